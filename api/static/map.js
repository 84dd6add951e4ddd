// The map page: facilities coloured by status, institutions sized by remaining capacity,
// proposals as lines. Works without any tile server: the layers stand on a plain background.
(function () {
  "use strict";
  var el = document.getElementById("map");
  var statusLine = document.getElementById("map-status");
  if (!el) return;
  if (typeof L === "undefined") { statusLine.textContent = "地図ライブラリを読み込めませんでした。下の一覧を使ってください。"; return; }
  var COLORS = { all: "#2e7d32", partial: "#f9a825", none: "#ef6c00", no_partner: "#c62828", unknown: "#757575" };
  var LINE = { proposed: { color: "#1565c0", dashArray: "4 4" }, contacted: { color: "#6a1b9a", dashArray: "8 4" }, agreed: { color: "#2e7d32" } };
  function esc(s) { return String(s == null ? "" : s).replace(/[&<>"']/g, function (c) { return "&#" + c.charCodeAt(0) + ";"; }); }
  var CAPS = JSON.parse(el.dataset.caps || "{}");  // the vocabulary's labels, from the page
  function capsJa(codes) { return codes ? String(codes).split("+").map(function (c) { return CAPS[c] || c; }).join("・") : "なし"; }
  var map = L.map(el, { preferCanvas: false }).setView([33.56, 133.53], 9);
  var tiles = el.dataset.tiles;
  // The bundled background (prefecture outline, municipality names at their points): drawn when
  // no tile URL is set or the tile server cannot be reached (LGWAN, 三層分離).
  var fallbackDrawn = false;
  function drawFallback() {
    if (fallbackDrawn || !el.dataset.fallback) return;
    fallbackDrawn = true;
    map.createPane("fallback");
    map.getPane("fallback").style.zIndex = 250;
    map.createPane("fallbackLabels");  // above the outline's SVG, below the markers
    map.getPane("fallbackLabels").style.zIndex = 260;
    fetch(el.dataset.fallback, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
      .then(function (bg) {
        bg.outlines.forEach(function (o) {
          var ring = o.rings.map(function (p) { return [p[1], p[0]]; });
          L.polygon(ring, { pane: "fallback", color: "#5c6b78", weight: 1.5, fillColor: "#f6f3e8", fillOpacity: 1, interactive: false, className: "fallback-outline" }).addTo(map);
        });
        bg.municipalities.forEach(function (m) {
          L.circleMarker([m.lat, m.lon], { pane: "fallback", radius: 2, color: "#5c6b78", weight: 1, interactive: false, className: "fallback-town" })
            .bindTooltip(esc(m.name), { permanent: true, direction: "right", className: "fallback-label", pane: "fallbackLabels" })
            .addTo(map);
        });
        el.dataset.fallback_drawn = String(bg.municipalities.length);
      })
      .catch(function (e) { statusLine.textContent = "簡易地図を読み込めませんでした: " + e.message; });
  }
  if (tiles) {
    var layer = L.tileLayer(tiles, { attribution: el.dataset.attribution || "", maxZoom: 18 });
    var failed = 0;
    layer.on("tileerror", function () {
      failed += 1;
      if (failed === 1) {
        statusLine.textContent = "背景地図を読み込めません(オフライン)。同梱の簡易地図(県の輪郭と市区町村名)を表示しています。";
        drawFallback();
      }
    });
    layer.addTo(map);
  } else {
    statusLine.textContent = "背景地図は同梱の簡易地図(県の輪郭と市区町村名)です。";
    drawFallback();
  }
  fetch(el.dataset.api, { credentials: "same-origin", headers: { "Accept": "application/json" } })
    .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
    .then(function (data) {
      var pos = {};
      var bounds = [];
      data.institutions.forEach(function (i) {
        pos["i:" + i.institution_id] = [i.lat, i.lon];
        var left = i.remaining_capacity;
        var size = left === null ? 9 : Math.min(14, 3 + 2 * left);
        var m = L.circleMarker([i.lat, i.lon], { radius: size, color: "#1f4e79", weight: 1, fillColor: left === 0 ? "#bbb" : "#90caf9", fillOpacity: 0.6, className: "inst-marker" });
        m.bindPopup("<b>" + esc(i.name) + "</b><br>" + esc(capsJa(i.offers)) + "<br>受入枠: " + (left === null ? "申告なし" : "残り " + left));
        m.addTo(map);
      });
      data.facilities.forEach(function (f) {
        pos["f:" + f.facility_id] = [f.lat, f.lon];
        bounds.push([f.lat, f.lon]);
      });
      data.proposals.forEach(function (p) {
        var a = pos["f:" + p.facility_id], b = pos["i:" + p.institution_id];
        if (a && b) L.polyline([a, b], Object.assign({ weight: 2, opacity: 0.8, className: "proposal-line" }, LINE[p.status] || {})).addTo(map);
      });
      data.facilities.forEach(function (f) {
        var m = L.circleMarker([f.lat, f.lon], { radius: 6, color: "#333", weight: 1, fillColor: COLORS[f.status] || "#999", fillOpacity: 0.9, className: "fac-marker" });
        m.bindPopup("<b><a href='/facilities/" + encodeURIComponent(f.facility_id) + "'>" + esc(f.name) + "</a></b><br>" + esc(f.kind_ja) + "<br>" + esc(f.status_ja) + (f.missing ? "<br>不足: " + esc(capsJa(f.missing)) : ""));
        m.addTo(map);
      });
      if (bounds.length) map.fitBounds(bounds, { padding: [20, 20] });
      el.dataset.loaded = String(data.facilities.length);
    })
    .catch(function (e) { statusLine.textContent = "地図のデータを読み込めませんでした: " + e.message; });
})();
