"""Reports of a stored run as one ZIP: the coordinator's workbook, CSV, overview, requests to
institutions and notices to facilities (``matcher.reports``), built once and kept.

A ZIP is built by a job (the web runs it in a thread, ``api.jobs.Jobs``; its progress is the
job's) and kept on a ``ReportShelf`` — a folder, one file per run, options (PDF or not, the date
printed) and *fingerprint* (``store.report_input.report_fingerprint``: the registry's change
counter and the run's proposals as stored). Reports describe the run as it finished — statuses
are read as at its end — so agreeing or declining its proposals later does not rebuild them; an
import (facilities, institutions, filings, declarations) or a later run that changes one of its
proposals does: the next request finds no file for the new fingerprint and builds again.

PDFs only on request, since printing them takes most of the time. The run must be of one of the
actor's areas.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Protocol

from ..match import Progress
from ..reports import STAGES_JA, ReportError, write_reports
from ..store.jobs import Job
from ..store.report_input import RunInput, report_fingerprint, run_input
from ..store.runs import get_run
from ..wareki import today as today_jp
from .actor import Actor
from .runs import run_area
from .unit import UnitOfWork
from .views import JobView, job_view

JOB_MODE = "report"  # a report job in the store's ``jobs`` table (runs have their solve mode)
# The stages a report job goes through, with the Japanese its progress page shows.
REPORT_STAGES_JA: dict[str, str] = {
    "wait": "待機中",
    "load": "計算を読み込んでいます",
    **STAGES_JA,
    "zip": "ZIP にまとめています",
    "done": "完了",
}
KEEP_DAYS = 30  # a kept ZIP not asked for in this many days is removed at the next build


def visible_run_input(uow: UnitOfWork, actor: Actor, run_id: int) -> RunInput:
    """Run ``run_id`` rebuilt for its reports, if its area is one of the actor's (else not
    found)."""
    with uow.read() as s:
        run_area(s, actor, get_run(s, run_id), overlapping=False)
        return run_input(s, run_id)


def zip_folder(folder: Path, target: Path) -> Path:
    """Every file under ``folder`` into the ZIP ``target`` (paths relative to ``folder``)."""
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as z:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                z.write(path, path.relative_to(folder).as_posix())
    return target


@dataclass(frozen=True)
class ReportRequest:
    """Which reports of which run: with PDFs or not, dated ``day`` (today when not given)."""

    run_id: int
    pdf: bool = False
    day: dt.date | None = None

    def dated(self) -> ReportRequest:
        """The same request with its day fixed (today's when not given)."""
        return self if self.day is not None else ReportRequest(self.run_id, self.pdf, _today())

    def params(self, fingerprint: str) -> dict[str, object]:
        """How a report job stores what it builds (``jobs.params``)."""
        assert self.day is not None
        return {"pdf": self.pdf, "day": self.day.isoformat(), "fingerprint": fingerprint}

    @property
    def filename(self) -> str:
        """The name the download is saved as."""
        return f"run-{self.run_id}-reports.zip"


def _today() -> dt.date:
    return today_jp()


@dataclass(frozen=True)
class BuiltReport:
    """A kept ZIP and whether its run's input was rebuilt exactly (its hash matches)."""

    path: Path
    exact: bool


def _version() -> str:
    try:
        return metadata.version("kyoryoku-match")
    except metadata.PackageNotFoundError:  # pragma: no cover - run from a plain checkout
        return "0"


class ReportShelf:
    """Built report ZIPs kept in ``folder`` (created on first use): per store (``store_key``),
    one sub-folder per run, one ZIP per options and fingerprint, with a small JSON beside it.
    Files are written whole and renamed into place, so a reader never sees half a ZIP; any
    worker of the same machine finds what another built."""

    def __init__(self, folder: Path, store_key: str) -> None:
        tag = hashlib.sha256(f"{store_key}|{_version()}".encode()).hexdigest()[:16]
        self.folder = Path(folder) / tag

    def _stem(self, request: ReportRequest, fingerprint: str) -> Path:
        assert request.day is not None
        kind = "pdf" if request.pdf else "html"
        name = f"{kind}-{request.day.isoformat()}-{fingerprint[:32]}"
        return self.folder / f"run-{request.run_id}" / name

    def find(self, request: ReportRequest, fingerprint: str) -> BuiltReport | None:
        """The kept ZIP of ``request`` at ``fingerprint``, if built."""
        stem = self._stem(request, fingerprint)
        try:
            meta = json.loads(stem.with_suffix(".json").read_text(encoding="utf-8"))
            path = stem.with_suffix(".zip")
            os.utime(path)  # asked for: kept another ``KEEP_DAYS``
        except (OSError, ValueError):
            return None
        return BuiltReport(path, bool(meta.get("exact")))

    def put(
        self, request: ReportRequest, fingerprint: str, zip_path: Path, exact: bool
    ) -> BuiltReport:
        """Keep ``zip_path`` (moved) as the ZIP of ``request`` at ``fingerprint``; the same run's
        ZIPs of the same options at another fingerprint, and any not asked for in ``KEEP_DAYS``,
        are removed."""
        stem = self._stem(request, fingerprint)
        stem.parent.mkdir(parents=True, exist_ok=True)
        meta = stem.with_suffix(".json")
        tmp = meta.with_suffix(f".json.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"exact": exact}), encoding="utf-8")
        os.replace(tmp, meta)  # the JSON first: a ZIP in place always has its JSON
        os.replace(zip_path, stem.with_suffix(".zip"))
        self._prune(stem)
        return BuiltReport(stem.with_suffix(".zip"), exact)

    def _prune(self, keep: Path) -> None:
        options = keep.name.rsplit("-", 1)[0]  # kind-day
        old = time.time() - KEEP_DAYS * 86400
        for path in keep.parent.glob("*.zip"):
            stem = path.with_suffix("")
            if stem == keep:
                continue
            try:
                if stem.name.rsplit("-", 1)[0] == options or path.stat().st_mtime < old:
                    path.unlink(missing_ok=True)
                    stem.with_suffix(".json").unlink(missing_ok=True)
            except OSError:  # another worker removed it first
                pass


class ReportStarter(Protocol):
    """Starts report jobs in the background and reads jobs (``api.jobs.Jobs``)."""

    def start_job(
        self,
        mode: str,
        area_code: str,
        run_id: int,
        actor: str,
        params: dict[str, object],
        work: Callable[[Progress], None],
        wait: float | None = None,
    ) -> Job: ...

    def running(self, mode: str, run_id: int, params: dict[str, object]) -> Job | None: ...

    def wait_for(self, job_id: int, timeout: float | None) -> Job | None: ...


@dataclass(frozen=True)
class ReportAnswer:
    """A run's reports: the kept ZIP when built, else the job building it."""

    request: ReportRequest
    built: BuiltReport | None
    job: JobView | None


def _look_up(uow: UnitOfWork, actor: Actor, request: ReportRequest) -> tuple[str, str]:
    """(area code, fingerprint) of the run, if its area is one of the actor's (else not found)."""
    with uow.read() as s:
        area = run_area(s, actor, get_run(s, request.run_id), overlapping=False)
        return area.code, report_fingerprint(s, request.run_id)


def build_reports(
    uow: UnitOfWork,
    actor: Actor,
    request: ReportRequest,
    shelf: ReportShelf,
    fingerprint: str,
    progress: Progress | None = None,
) -> BuiltReport:
    """Write the reports of ``request`` (dated, PDFs when asked), zip them and keep the ZIP on
    ``shelf`` under ``fingerprint``."""
    report = progress or (lambda stage, done, total: None)
    request = request.dated()
    report("load", 0, 0)
    got = visible_run_input(uow, actor, request.run_id)
    work = Path(tempfile.mkdtemp(prefix=f"kyoryoku-run{request.run_id}-"))
    try:
        write_reports(
            got.instance,
            got.result,
            work / "reports",
            report,
            today=request.day,
            pdf="bundle" if request.pdf else "none",
            notes=got.notes,
            filing_years=got.filing_years,
        )
        report("zip", 0, 0)
        path = zip_folder(work / "reports", work / request.filename)
        return shelf.put(request, fingerprint, path, got.exact)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run_reports(
    uow: UnitOfWork,
    actor: Actor,
    jobs: ReportStarter,
    shelf: ReportShelf,
    request: ReportRequest,
    wait: float | None = None,
) -> ReportAnswer:
    """Run ``request.run_id``'s reports: the kept ZIP at once when built for the run as stored
    now; otherwise the job building it — the one already running for the same reports, or one
    started now — waited for up to ``wait`` seconds (``None``: the jobs' own short wait;
    ``math.inf``: until it ends). A build that fails within the wait raises its error, like a
    run's."""
    request = request.dated()
    code, fingerprint = _look_up(uow, actor, request)
    built = shelf.find(request, fingerprint)
    if built is not None:
        return ReportAnswer(request, built, None)
    params = request.params(fingerprint)
    job = jobs.running(JOB_MODE, request.run_id, params)
    if job is not None:
        job = jobs.wait_for(job.id, wait) or job
    else:

        def work(progress: Progress) -> None:
            build_reports(uow, actor, request, shelf, fingerprint, progress)

        job = jobs.start_job(JOB_MODE, code, request.run_id, actor.username, params, work, wait)
    if job.state == "failed":  # the build joined (another request's) failed meanwhile
        raise ReportError(job.error or "帳票を作成できませんでした")
    if job.state == "done":
        built = shelf.find(request, fingerprint)
        if built is not None:
            return ReportAnswer(request, built, None)
    return ReportAnswer(request, None, job_view(job))
