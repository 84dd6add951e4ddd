"""Reports of a stored run as one ZIP: the coordinator's workbook, CSV, overview, requests, notices.

Written synchronously into a temporary folder and streamed from a temporary file; PDFs only on
request (``pdf=true``), since printing them takes most of the time.
"""

from __future__ import annotations

import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from matcher.reports import write_reports
from matcher.store.areas import get_visible_area
from matcher.store.db import Store
from matcher.store.errors import NotFoundError
from matcher.store.models import AreaRow
from matcher.store.report_input import RunInput, run_input
from matcher.store.workflow import get_run

from ..deps import StoreDep, UserDep, scope_of
from ..errors import ERROR_RESPONSES
from ..schemas import IntId, ReportDay
from ..users import User

router = APIRouter(prefix="/api/runs", tags=["reports"], responses=ERROR_RESPONSES)
ZIP = "application/zip"


def visible_run_input(store: Store, user: User, run_id: int) -> RunInput:
    """Run ``run_id`` rebuilt for its reports, if its area is within the user's scope (else 404)."""
    with store.read() as s:
        run = get_run(s, run_id)
        area = s.get(AreaRow, run.area_id)
        try:
            if area is None:
                raise NotFoundError(run_id)
            get_visible_area(s, scope_of(user), area.code)
        except NotFoundError:
            raise NotFoundError(f"計算 {run_id} は見つかりません") from None
        return run_input(s, run_id)


def zip_folder(folder: Path, target: Path) -> Path:
    """Every file under ``folder`` into the ZIP ``target`` (paths relative to ``folder``)."""
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as z:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                z.write(path, path.relative_to(folder).as_posix())
    return target


@router.get(
    "/{run_id}/reports",
    summary="計算の帳票一式 (ZIP: Excel・CSV・HTML、pdf=true で PDF も)",
    response_class=FileResponse,
    responses={200: {"content": {ZIP: {}}, "description": "帳票一式の ZIP (目次は index.html)"}},
)
def run_reports(
    run_id: IntId,
    user: UserDep,
    store: StoreDep,
    pdf: bool = Query(False, description="PDF も作る (時間がかかります)"),
    # the validator inside Annotated (a ``Query`` default would drop it)
    date: Annotated[ReportDay, Query(description="帳票の作成日 YYYY-MM-DD (省略時は今日)")] = None,
) -> FileResponse:
    got = visible_run_input(store, user, run_id)
    work = Path(tempfile.mkdtemp(prefix=f"kyoryoku-run{run_id}-"))
    try:
        write_reports(
            got.instance,
            got.result,
            work / "reports",
            today=date,
            pdf="bundle" if pdf else "none",
            notes=got.notes,
            filing_years=got.filing_years,
        )
        path = zip_folder(work / "reports", work / f"run-{run_id}-reports.zip")
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return FileResponse(
        path,
        media_type=ZIP,
        filename=path.name,
        headers={"X-Report-Input-Exact": "true" if got.exact else "false"},
        background=BackgroundTask(shutil.rmtree, work, True),
    )
