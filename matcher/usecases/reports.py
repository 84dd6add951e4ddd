"""Reports of a stored run as one ZIP: the coordinator's workbook, CSV, overview, requests to
institutions and notices to facilities (``matcher.reports``), written into a temporary folder.

PDFs only on request, since printing them takes most of the time. The run must be of one of the
actor's areas.
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ..reports import write_reports
from ..store.report_input import RunInput, run_input
from ..store.runs import get_run
from .actor import Actor
from .runs import run_area
from .unit import UnitOfWork


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
class ReportBundle:
    """The ZIP of a run's reports, in ``folder`` (the caller removes it when sent)."""

    path: Path
    folder: Path
    exact: bool  # the run's input was rebuilt exactly (its hash matches)


def run_reports(
    uow: UnitOfWork, actor: Actor, run_id: int, pdf: bool = False, today: dt.date | None = None
) -> ReportBundle:
    """Write the reports of run ``run_id`` (dated ``today``, PDFs when ``pdf``) and zip them."""
    got = visible_run_input(uow, actor, run_id)
    work = Path(tempfile.mkdtemp(prefix=f"kyoryoku-run{run_id}-"))
    try:
        write_reports(
            got.instance,
            got.result,
            work / "reports",
            today=today,
            pdf="bundle" if pdf else "none",
            notes=got.notes,
            filing_years=got.filing_years,
        )
        path = zip_folder(work / "reports", work / f"run-{run_id}-reports.zip")
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return ReportBundle(path, work, got.exact)
