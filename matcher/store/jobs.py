"""Jobs: runs started from the web, stored so that every worker (and a restarted service) sees
their state, progress and result.

A job is ``running`` until it ends ``done`` (with its run id) or ``failed`` (with the reason).
The worker running it moves ``heartbeat_at`` every few seconds; a ``running`` job whose worker
is gone — its process no longer exists on this machine, or its heartbeat stopped for
``STALE_SECONDS`` — is marked ``failed`` by whoever reads it next, never left running.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from .db import Store
from .errors import NotFoundError
from .models import JobRow, utcnow

STALE_SECONDS = 60.0
HEARTBEAT_SECONDS = 5.0
INTERRUPTED_JA = (
    "サーバーの再起動または異常終了で計算が中断されました (ワーカー {worker})。"
    "もう一度実行してください"
)


def worker_id() -> str:
    """This process: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class Job:
    """A job as read from the store (a snapshot; read again to follow it)."""

    id: int
    area_code: str
    mode: str
    actor: str
    state: str
    stage: str
    done: int
    total: int
    run_id: int | None
    error: str | None
    worker: str
    created_at: dt.datetime
    finished_at: dt.datetime | None

    @classmethod
    def of(cls, row: JobRow) -> Job:
        return cls(
            row.id,
            row.area_code,
            row.mode,
            row.actor,
            row.state,
            row.stage,
            row.done,
            row.total,
            row.run_id,
            row.error,
            row.worker,
            row.created_at,
            row.finished_at,
        )

    def to_dict(self) -> dict[str, object]:
        end = self.finished_at or utcnow()
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
            "seconds": round((end - self.created_at).total_seconds(), 3),
        }


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def is_orphan(row: JobRow, now: dt.datetime | None = None) -> bool:
    """Whether a running job's worker is gone (dead process here, or a stopped heartbeat)."""
    if row.state != "running":
        return False
    now = now or utcnow()
    if (now - row.heartbeat_at).total_seconds() > STALE_SECONDS:
        return True
    host, _, pid = row.worker.rpartition(":")
    if host == socket.gethostname() and pid.isdigit() and int(pid) != os.getpid():
        return not _pid_alive(int(pid))
    return False


def _fail_orphan(row: JobRow) -> None:
    row.state, row.stage = "failed", "failed"
    row.error = INTERRUPTED_JA.format(worker=row.worker)
    row.finished_at = utcnow()


def create_job(
    session: Session,
    area_code: str,
    mode: str,
    actor: str,
    params: dict[str, object],
    note: str = "",
    run_id: int | None = None,
) -> Job:
    """A running job of this worker. A run's job gets its ``run_id`` when done; a job that
    works on a stored run (its reports: ``mode`` ``report``) names it from the start."""
    now = utcnow()
    row = JobRow(
        area_code=area_code,
        mode=mode,
        actor=actor,
        params=params,
        note=note,
        state="running",
        stage="wait",
        done=0,
        total=0,
        run_id=run_id,
        worker=worker_id(),
        created_at=now,
        heartbeat_at=now,
    )
    session.add(row)
    session.flush()
    return Job.of(row)


def get_job(store: Store, job_id: int) -> Job:
    """The job ``job_id``; a running job whose worker is gone is marked failed first."""
    with store.read() as s:
        row = s.get(JobRow, job_id)
        if row is None:
            raise NotFoundError(f"計算ジョブ {job_id} は見つかりません")
        if not is_orphan(row):
            return Job.of(row)
    with store.write() as s:
        row = s.get(JobRow, job_id, with_for_update=True)
        assert row is not None
        if is_orphan(row):
            _fail_orphan(row)
        return Job.of(row)


def running_job(store: Store, mode: str, run_id: int, params: dict[str, object]) -> Job | None:
    """A running job of ``mode`` on run ``run_id`` with exactly ``params`` (the oldest), if any;
    one whose worker is gone is marked failed and not returned."""
    with store.read() as s:
        ids = [
            r.id
            for r in s.scalars(
                select(JobRow)
                .where(JobRow.state == "running", JobRow.mode == mode, JobRow.run_id == run_id)
                .order_by(JobRow.id)
            )
            if r.params == params
        ]
    for job_id in ids:
        job = get_job(store, job_id)
        if job.state == "running":
            return job
    return None


def fail_orphans(store: Store) -> int:
    """Mark every running job whose worker is gone as failed (at start-up); how many."""
    with store.read() as s:
        ids = [r.id for r in s.scalars(select(JobRow).where(JobRow.state == "running"))]
    n = 0
    for job_id in ids:
        n += get_job(store, job_id).state == "failed"
    return n


def update_job(store: Store, job_id: int, **values: object) -> None:
    """Set progress fields (``stage``, ``done``, ``total``) and move the heartbeat."""
    with store.write() as s:
        row = s.get(JobRow, job_id)
        if row is None or row.state != "running":
            return
        for k, v in values.items():
            setattr(row, k, v)
        row.heartbeat_at = utcnow()


def heartbeat(store: Store, worker: str) -> None:
    """Move the heartbeat of every running job of ``worker``."""
    with store.write() as s:
        for row in s.scalars(
            select(JobRow).where(JobRow.state == "running", JobRow.worker == worker)
        ):
            row.heartbeat_at = utcnow()


def finish_job(
    store: Store, job_id: int, run_id: int | None = None, error: str | None = None
) -> None:
    """``done`` with ``run_id``, or ``failed`` with ``error``."""
    with store.write() as s:
        row = s.get(JobRow, job_id)
        if row is None:
            return
        row.state = "failed" if error is not None else "done"
        row.stage = row.state
        row.run_id, row.error = run_id, error
        row.finished_at = row.heartbeat_at = utcnow()
