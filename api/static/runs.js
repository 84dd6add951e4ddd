// A job's progress page: polls the job; done, it moves to the run's page (a run) or to
// ``data-done`` (a report ZIP: the download starts and the page stays).
(function () {
  "use strict";
  var box = document.getElementById("run-progress");
  if (!box || box.dataset.state !== "running") return;
  var bar = document.getElementById("run-bar");
  var stage = document.getElementById("run-stage");
  // The stages' Japanese labels come from the vocabulary (matcher.vocab.RunStage) via the page.
  var STAGES = {};
  JSON.parse(box.dataset.stages || "[]").forEach(function (pair) { STAGES[pair[0]] = pair[1]; });
  function poll() {
    fetch(box.dataset.poll, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
      .then(function (job) {
        if (job.state === "done" && box.dataset.done) {
          bar.max = 1; bar.value = 1;
          stage.textContent = "完了しました。ダウンロードを開始します…(" + job.seconds + " 秒)";
          window.location.assign(box.dataset.done);
          return;
        }
        if (job.state === "done" && job.run_id) { window.location.replace("/runs/" + job.run_id); return; }
        if (job.state === "failed") { stage.textContent = "計算に失敗しました: " + (job.error || ""); stage.setAttribute("role", "alert"); return; }
        if (job.total) {
          bar.max = job.total;
          bar.value = job.done || 0;
        } else {
          bar.removeAttribute("value"); // indeterminate: the browser animates it
        }
        var step = job.total ? " " + job.done + "/" + job.total : "";
        stage.textContent = (STAGES[job.stage] || "計算しています") + step + "…(" + job.seconds + " 秒)";
        window.setTimeout(poll, 700);
      })
      .catch(function (e) { stage.textContent = "進み具合を取得できません: " + e.message; window.setTimeout(poll, 3000); });
  }
  window.setTimeout(poll, 500);
})();
