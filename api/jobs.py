"""Matching runs and other long work started from the web (a run's report ZIP): a thread per job
in the worker that received it, its state, progress and result in the store's ``jobs`` table
(``matcher.store.jobs``).

A job that finishes within ``wait`` seconds is answered directly; a longer one keeps running in
its thread and the client polls ``/api/runs/jobs/{id}`` — on any worker, since every worker
reads the job from the store. A job whose worker died (restart, crash) is marked failed with
the reason when it is next read, and at start-up.
"""

from __future__ import annotations

import math
import threading
import time
import traceback
from collections.abc import Callable

from matcher._errors import MatcherError
from matcher.match import Progress
from matcher.params import MatchParams, Mode
from matcher.store import jobs as store_jobs
from matcher.store.db import Store
from matcher.store.errors import NotFoundError
from matcher.store.jobs import Job
from matcher.usecases.runs import RunRequest, execute
from matcher.usecases.unit import UnitOfWork

# Seconds between progress writes of one job (a new stage: at once). While the request that
# started it still waits for it (``wait``), nothing is written: a run of the sample prefecture
# ends within it, and each write is a transaction (measured: 5 writes were 30–60 ms of 0.4 s).
PROGRESS_EVERY = 0.5
POLL_SECONDS = 0.2  # waiting for another worker's job: how often to read it


class Jobs:
    """Start runs in threads of this process; read any job of any process from the store.
    ``wait``: how long ``start`` waits for a run by default (seconds)."""

    def __init__(self, store: Store, wait: float = 1.0) -> None:
        self.store = store
        self.wait = wait
        self.worker = store_jobs.worker_id()
        self._threads: list[threading.Thread] = []
        self._errors: dict[int, MatcherError] = {}
        self._waiting: set[int] = set()
        self._by_job: dict[int, threading.Thread] = {}  # jobs of this process still working
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None
        self._beat_lock = threading.Lock()
        try:
            store_jobs.fail_orphans(store)
        except MatcherError:  # the store is not reachable yet: the next read marks them
            pass

    def get(self, job_id: int) -> Job | None:
        try:
            return store_jobs.get_job(self.store, job_id)
        except NotFoundError:
            return None

    def start(
        self,
        area_code: str,
        params: MatchParams,
        mode: Mode,
        actor: str,
        note: str = "",
        wait: float | None = None,
        replace_other_areas: bool = False,
    ) -> Job:
        """Store the job and run it in a thread; wait up to ``wait`` seconds (default:
        ``self.wait``) for it. A run that failed within the wait raises its error (so the web
        answers 404/422/503 at once)."""
        with self.store.write() as s:
            job = store_jobs.create_job(s, area_code, mode, actor, params.to_dict(), note)
        self._ensure_heartbeat()
        thread = threading.Thread(
            target=self._run,
            args=(job.id, area_code, params, mode, actor, note, replace_other_areas),
            daemon=True,
            name=f"kyoryoku-run-{job.id}",
        )
        return self._launch(job.id, thread, wait)

    def start_job(
        self,
        mode: str,
        area_code: str,
        run_id: int,
        actor: str,
        params: dict[str, object],
        work: Callable[[Progress], None],
        wait: float | None = None,
    ) -> Job:
        """Store a job of ``mode`` on stored run ``run_id`` and call ``work(progress)`` in a
        thread; wait up to ``wait`` seconds (default: ``self.wait``; ``None`` given explicitly
        as ``float("inf")``: until it ends). A job that failed within the wait raises its
        error."""
        with self.store.write() as s:
            job = store_jobs.create_job(s, area_code, mode, actor, params, run_id=run_id)
        self._ensure_heartbeat()
        thread = threading.Thread(
            target=self._work,
            args=(job.id, run_id, work),
            daemon=True,
            name=f"kyoryoku-{mode}-{job.id}",
        )
        self._by_job[job.id] = thread
        return self._launch(job.id, thread, wait)

    def _launch(self, job_id: int, thread: threading.Thread, wait: float | None) -> Job:
        """Start a job's thread and wait up to ``wait`` seconds (default ``self.wait``) for it;
        an error it raised within the wait is raised here (``_run`` / ``_work`` leave it)."""
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        with self._beat_lock:
            self._waiting.add(job_id)
        thread.start()
        self._join(thread, self.wait if wait is None else wait)
        with self._beat_lock:
            self._waiting.discard(job_id)
            error = self._errors.pop(job_id, None)
        if error is not None:
            raise error
        return store_jobs.get_job(self.store, job_id)

    def running(self, mode: str, run_id: int, params: dict[str, object]) -> Job | None:
        """A running job of ``mode`` on run ``run_id`` with these ``params`` (any worker's)."""
        return store_jobs.running_job(self.store, mode, run_id, params)

    def wait_for(self, job_id: int, timeout: float | None) -> Job | None:
        """Job ``job_id`` once it ended or ``timeout`` seconds passed (``None``: this process's
        default wait; ``math.inf``: until it ends); another worker's job is read every
        ``POLL_SECONDS``."""
        timeout = self.wait if timeout is None else timeout
        thread = self._by_job.get(job_id)
        if thread is not None:
            self._join(thread, timeout)
            return self.get(job_id)
        until = time.monotonic() + timeout
        while True:
            job = self.get(job_id)
            if job is None or job.state != "running" or time.monotonic() >= until:
                return job
            time.sleep(min(POLL_SECONDS, max(0.0, until - time.monotonic())))

    @staticmethod
    def _join(thread: threading.Thread, timeout: float) -> None:
        thread.join(None if math.isinf(timeout) else timeout)

    def _work(self, job_id: int, run_id: int, work: Callable[[Progress], None]) -> None:
        try:
            work(self._progress(job_id))
            store_jobs.finish_job(self.store, job_id, run_id=run_id)
        except MatcherError as exc:
            with self._beat_lock:
                if job_id in self._waiting:  # start_job() is still waiting: it raises it
                    self._errors[job_id] = exc
            self._finish_failed(job_id, str(exc))
        except Exception as exc:  # a server-side failure: keep the message, never lose the thread
            self._finish_failed(job_id, f"内部エラー: {exc!r}")
            traceback.print_exc()
        finally:
            self._by_job.pop(job_id, None)

    def _progress(self, job_id: int) -> Progress:
        """Progress written to the job: a new stage at once, steps at most every
        ``PROGRESS_EVERY`` seconds."""
        at, current = 0.0, ""

        def progress(stage: str, done: int, total: int) -> None:
            nonlocal at, current
            if job_id in self._waiting:  # answered inline: nobody polls it yet (no write)
                return
            now = time.monotonic()
            if stage != current or now - at >= PROGRESS_EVERY:
                at, current = now, stage
                try:
                    store_jobs.update_job(self.store, job_id, stage=stage, done=done, total=total)
                except MatcherError:  # progress is best effort; the result is not
                    pass

        return progress

    def _ensure_heartbeat(self) -> None:
        with self._beat_lock:
            if self._beat is None or not self._beat.is_alive():
                self._beat = threading.Thread(
                    target=self._heartbeat, daemon=True, name="kyoryoku-jobs-heartbeat"
                )
                self._beat.start()

    def _heartbeat(self) -> None:
        while not self._stop.wait(store_jobs.HEARTBEAT_SECONDS):
            if not any(t.is_alive() for t in self._threads):
                return  # no job runs here any more; the next start() beats again
            try:
                store_jobs.heartbeat(self.store, self.worker)
            except Exception:  # a missed beat is harmless; the next one tries again
                traceback.print_exc()

    def _run(
        self,
        job_id: int,
        area_code: str,
        params: MatchParams,
        mode: Mode,
        actor: str,
        note: str,
        replace_other_areas: bool = False,
    ) -> None:
        last = [0.0]

        def progress(stage: str, done: int, total: int) -> None:
            if job_id in self._waiting:  # answered inline: nobody polls it yet (no write)
                return
            now = time.monotonic()
            if stage != "solve" or now - last[0] >= PROGRESS_EVERY:
                last[0] = now
                try:
                    store_jobs.update_job(self.store, job_id, stage=stage, done=done, total=total)
                except MatcherError:  # progress is best effort; the result is not
                    pass

        try:
            request = RunRequest(area_code, mode, params, note, replace_other_areas)
            report = execute(UnitOfWork(self.store), request, actor, progress, job_id)
            store_jobs.finish_job(self.store, job_id, run_id=report.run_id)
        except MatcherError as exc:
            with self._beat_lock:
                if job_id in self._waiting:  # start() is still waiting: it raises the error
                    self._errors[job_id] = exc
            self._finish_failed(job_id, str(exc))
        except Exception as exc:  # a server-side failure: keep the message, never lose the thread
            self._finish_failed(job_id, f"内部エラー: {exc!r}")
            traceback.print_exc()

    def _finish_failed(self, job_id: int, message: str) -> None:
        try:
            store_jobs.finish_job(self.store, job_id, error=message)
        except Exception:  # the store is gone: the job is marked failed when next read
            traceback.print_exc()

    def join_all(self, timeout: float = 30.0) -> None:
        for t in list(self._threads):
            t.join(timeout)

    def close(self) -> None:
        self._stop.set()
