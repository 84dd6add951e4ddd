"""Matching runs started from the web: a thread per run, its progress, its stored result.

A run that finishes within ``wait`` seconds is answered directly; a longer one keeps running in
its thread and the client polls ``/api/runs/jobs/{id}``.

The registry lives in the process's memory: the app must be served by one process (``kyoryoku
serve`` runs a single uvicorn worker), or a poll could reach a worker that never saw the job.
The read cache (``api.cache``) would be correct with several workers; the jobs are not.
"""

from __future__ import annotations

import itertools
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Literal

from matcher._errors import MatcherError
from matcher.params import MatchParams, Mode
from matcher.store.db import Store
from matcher.store.workflow import plan

from .users import audit

JobState = Literal["running", "done", "failed"]


@dataclass
class Job:
    id: int
    area_code: str
    mode: str
    actor: str
    state: JobState = "running"
    stage: str = "load"
    done: int = 0
    total: int = 0
    run_id: int | None = None
    error: str | None = None
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None

    def to_dict(self) -> dict[str, object]:
        end = self.finished if self.finished is not None else time.monotonic()
        return {
            "job_id": self.id,
            "area_code": self.area_code,
            "mode": self.mode,
            "state": self.state,
            "stage": self.stage,
            "done": self.done,
            "total": self.total,
            "run_id": self.run_id,
            "error": self.error,
            "seconds": round(end - self.started, 3),
        }


class Jobs:
    """The runs started by this process (kept in memory; the runs themselves are in the store)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._jobs: dict[int, Job] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def get(self, job_id: int) -> Job | None:
        return self._jobs.get(job_id)

    def start(
        self,
        area_code: str,
        params: MatchParams,
        mode: Mode,
        actor: str,
        note: str = "",
        wait: float = 1.0,
    ) -> Job:
        with self._lock:
            job = Job(next(self._ids), area_code, mode, actor)
            self._jobs[job.id] = job
        thread = threading.Thread(
            target=self._run,
            args=(job, params, mode, note),
            daemon=True,
            name=f"kyoryoku-run-{job.id}",
        )
        self._threads.append(thread)
        thread.start()
        thread.join(wait)
        return job

    def _run(self, job: Job, params: MatchParams, mode: Mode, note: str) -> None:
        def progress(stage: str, done: int, total: int) -> None:
            job.stage, job.done, job.total = stage, done, total

        try:
            with self.store.write() as s:
                report = plan(
                    s,
                    job.area_code,
                    params,
                    mode,
                    actor=job.actor,
                    note=note,
                    progress=progress,
                    create_area=False,
                )
                audit(
                    s,
                    job.actor,
                    "run.create",
                    f"run:{report.run_id}",
                    {
                        "area": job.area_code,
                        "mode": mode,
                        "params": params.to_dict(),
                        "new": len(report.of("new")),
                        "kept": len(report.of("kept")),
                        "dropped": len(report.of("dropped")),
                    },
                )
            job.run_id, job.stage, job.state = report.run_id, "done", "done"
        except MatcherError as exc:
            job.state, job.error = "failed", str(exc)
        except Exception as exc:  # a server-side failure: keep the message, never lose the thread
            job.state, job.error = "failed", f"内部エラー: {exc!r}"
            traceback.print_exc()
        finally:
            job.finished = time.monotonic()

    def join_all(self, timeout: float = 30.0) -> None:
        for t in list(self._threads):
            t.join(timeout)
