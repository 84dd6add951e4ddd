"""The current state of an area as tables: a summary (with the latest run's warnings), facilities
(status now), proposals, institutions (declared and used capacity); written as CSV with BOM or one
Excel workbook."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import BinaryIO

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..infection import INSTITUTION_KEY as INFECTION_KEY
from ..model import (
    FACILITY_KINDS,
    INSTITUTION_KIND_JA,
    format_capabilities,
    format_capabilities_ja,
)
from ..result import warnings_of_counts
from ..sites import site_ids
from ..sources.cells import safe_frame
from ..sources.simple_csv import facilities_frame, institutions_frame
from ..sources.textfile import write_csv
from ..vocab import BACKUP_LABEL_JA, Mode
from ..wareki import jst, wareki
from ..wareki import today as today_jp
from .areas import area_facilities, get_area, member_filter
from .models import AreaRow, InstitutionRow, RunRow
from .proposals import list_proposals
from .state import facility_states, institution_states

SHEETS_JA = {
    "summary": "概要",
    "facilities": "施設",
    "proposals": "提案",
    "institutions": "医療機関",
    "status": "状況表",
}


def summary_frame(session: Session, area: AreaRow, on: dt.date) -> pd.DataFrame:
    """(項目, 値) rows: the area, the day, the area's latest run and its warnings (the same text
    as the CLI, the run page and the reports: ``matcher.result.warnings_of_counts``)."""
    run = session.scalar(
        select(RunRow).where(RunRow.area_id == area.id).order_by(RunRow.id.desc()).limit(1)
    )
    rows: list[tuple[str, object]] = []
    if run is not None:
        rows += [("警告", w) for w in warnings_of_counts(run.counts)]
    rows += [("地域", area.name), ("出力日", wareki(on, western=True))]
    if run is None:
        rows.append(("最新の計算", "なし"))
    else:
        rows += [
            ("最新の計算", run.id),
            ("計算日時(日本時間)", jst(run.finished_at)),
            ("方式", Mode(run.mode).label_ja),
        ]
    return pd.DataFrame(rows, columns=["項目", "値"])


def state_frames(
    session: Session, area_code: str, on: dt.date | None = None
) -> dict[str, pd.DataFrame]:
    """Facilities with their state (``store.state``: status from the latest filing plus agreed
    proposals, contacted ones as 打診中), every proposal of the area with its status, and the
    institutions involved with their capacity."""
    on = on or today_jp()
    area = get_area(session, area_code)
    facs = area_facilities(session, area)
    states = facility_states(session, facs)
    # The site (``matcher.sites``) of each registration, detected as the planner does.
    sites = site_ids([st.planning_facility() for st in states])
    state_rows = []
    for st in states:
        info = FACILITY_KINDS[st.row.kind]
        state_rows.append(
            {
                "site_detected": sites.get(st.facility_id, ""),
                "covered_filed": format_capabilities(st.covered_filed),
                "covered_agreed": format_capabilities(st.covered_agreed),
                "status": st.status.value,
                "missing": format_capabilities(st.missing),
                "pending": format_capabilities(st.pending),
                "施設種別": info.label_ja,
                "状況": st.status.label_ja,
                "不足している要件": format_capabilities_ja(st.missing) if st.missing else "",
                "打診中": format_capabilities_ja(st.pending) if st.pending else "",
                "has_infection_partner": str(st.has_infection_partner).lower(),
                "第二種協定の協力医療機関": "あり" if st.has_infection_partner else "",
            }
        )
    # What `db import-csv` reads back: the simple format's columns and extras, by its one writer,
    # then the derived state (``validate.DERIVED_COLUMNS``, skipped when read back).
    facilities = pd.concat(
        [
            facilities_frame([st.filed_facility() for st in states]),
            pd.DataFrame(state_rows, columns=list(state_rows[0]) if state_rows else None),
        ],
        axis=1,
    )
    proposals = list_proposals(session, area.code)
    prop_rows = [
        {
            "proposal_id": p.id,
            "facility_id": p.facility_id,
            "institution_id": p.institution_id,
            "covers": p.covers,
            "distance_km": p.distance_km,
            "status": p.status,
            "version": p.version,
            "run_id": "" if p.run_id is None else p.run_id,
            "updated_at": jst(p.updated_at, seconds=True),  # as the pages show it (JST)
            "updated_by": p.updated_by,
            "backup_for": "" if p.backup_for is None else p.backup_for,
            "施設名": p.facility_name,
            "医療機関名": p.institution_name,
            "状態": p.status_ja,
            BACKUP_LABEL_JA: ""
            if p.backup_for is None
            else f"提案 {p.backup_for} が不可・取り下げのときだけ合意",
        }
        for p in proposals
    ]
    inst_ids = {p.institution_id for p in proposals}
    insts = list(
        session.scalars(
            select(InstitutionRow)
            .where(
                member_filter(area, InstitutionRow.code5)
                | InstitutionRow.institution_id.in_(sorted(inst_ids))
            )
            .order_by(InstitutionRow.institution_id)
        )
    )
    inst_states = institution_states(session, insts, on)
    inst_rows = [
        {
            INFECTION_KEY: str(ist.infection_agreement).lower(),  # false said, not left blank
            "used": ist.used,
            "remaining": "" if ist.remaining is None else ist.remaining,
            "種別": INSTITUTION_KIND_JA.get(ist.row.kind, ist.row.kind),
            "受入枠": "申告なし(上限なし)"
            if ist.declared is None
            else f"{ist.declared}(残り{ist.remaining})",
            "第二種協定": "○" if ist.infection_agreement else "",
        }
        for ist in inst_states.values()
    ]
    # The simple format's columns (offers in force, the declared capacity, the 第二種協定 flag)
    # by its one writer, then the derived ledger columns.
    institutions = pd.concat(
        [
            institutions_frame(
                [ist.institution(ist.declared) for ist in inst_states.values()]
            ).drop(columns=[INFECTION_KEY], errors="ignore"),
            pd.DataFrame(inst_rows, columns=list(inst_rows[0]) if inst_rows else None),
        ],
        axis=1,
    )
    return {
        "summary": summary_frame(session, area, on),
        "facilities": facilities,
        "proposals": pd.DataFrame(
            prop_rows,
            columns=[
                "proposal_id",
                "facility_id",
                "institution_id",
                "covers",
                "distance_km",
                "status",
                "version",
                "run_id",
                "updated_at",
                "updated_by",
                "backup_for",
                "施設名",
                "医療機関名",
                "状態",
                BACKUP_LABEL_JA,
            ],
        ),
        "institutions": institutions,
    }


# Columns a reader looks at first in the workbook: the name, then every Japanese-headed column;
# the simple format's code columns (what ``db import-csv`` reads back) follow.
LEAD_COLUMNS = ("name",)


def excel_order(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with its columns in the workbook's order (``LEAD_COLUMNS``, Japanese headers, then
    the rest, each group in the frame's order); the CSV keeps the frame's order."""
    lead = [c for c in LEAD_COLUMNS if c in df.columns]
    ja = [c for c in df.columns if c not in lead and not str(c).isascii()]
    return df[lead + ja + [c for c in df.columns if c not in lead and c not in ja]]


def write_xlsx(frames: Mapping[str, pd.DataFrame], out: str | Path | BinaryIO) -> None:
    """One workbook, a sheet per table (``SHEETS_JA`` names), Japanese headers first
    (``excel_order``), laid out for A4 as the reports' workbook is (widths from the content,
    long text wrapped, fitted to the page width, print titles and page numbers); every text cell
    passes ``safe_cell``: formula-like text is never evaluated, control characters are
    dropped."""
    from openpyxl import Workbook

    from ..reports.workbook import print_setup, sheet_title, write_sheet

    wb = Workbook()
    taken: set[str] = set()
    for k, (name, df) in enumerate(frames.items()):
        ws = wb.active if k == 0 else wb.create_sheet()
        assert ws is not None  # a new workbook has an active sheet
        ws.title = sheet_title(SHEETS_JA.get(name, name), taken)
        write_sheet(ws, excel_order(df))
        print_setup(ws, ws.title)
    wb.save(out)


def csv_bytes(df: pd.DataFrame) -> bytes:
    """A table as the bytes of ``write_csv`` (UTF-8 with BOM, CRLF, cells made safe)."""
    text: str = safe_frame(df).to_csv(index=False, lineterminator="\r\n")
    return ("\ufeff" + text).encode("utf-8")


def write_export(frames: dict[str, pd.DataFrame], out: str | Path) -> list[Path]:
    """``*.xlsx``: one workbook with a sheet per table; otherwise CSVs (UTF-8 with BOM)."""
    out = Path(out)
    if out.suffix.lower() == ".xlsx":
        out.parent.mkdir(parents=True, exist_ok=True)
        write_xlsx(frames, out)
        return [out]
    return [write_csv(df, out / f"{name}.csv") for name, df in frames.items()]
