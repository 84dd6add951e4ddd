"""The current state of an area as tables: facilities (status now), proposals, institutions
(declared and used capacity); written as CSV with BOM or one Excel workbook."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..model import (
    FACILITY_KINDS,
    INSTITUTION_KIND_JA,
    format_capabilities,
    format_capabilities_ja,
    status_of,
)
from ..sources.textfile import write_csv
from .areas import get_area, member_filter
from .models import FacilityRow, InstitutionRow, ProposalRow
from .workflow import _latest_filings, capacity_use, current_declarations, list_proposals

SHEETS_JA = {"facilities": "施設", "proposals": "提案", "institutions": "医療機関"}


def state_frames(
    session: Session, area_code: str, on: dt.date | None = None
) -> dict[str, pd.DataFrame]:
    """Facilities with their status from the latest filing plus agreed proposals, every proposal
    of the area with its status, and the institutions involved with their capacity."""
    on = on or dt.date.today()
    area = get_area(session, area_code)
    facs = list(
        session.scalars(
            select(FacilityRow)
            .where(member_filter(area, FacilityRow.code5))
            .order_by(FacilityRow.facility_id)
        )
    )
    filings = _latest_filings(session, [f.facility_id for f in facs]) if facs else {}
    agreed: dict[str, int] = {}
    for p in session.scalars(
        select(ProposalRow).where(
            ProposalRow.facility_id.in_([f.facility_id for f in facs]),
            ProposalRow.status == "agreed",
        )
    ):
        agreed[p.facility_id] = agreed.get(p.facility_id, 0) | p.covers
    fac_rows = []
    for f in facs:
        filing = filings.get(f.facility_id)
        filed = 0 if filing is None else filing.covered
        for part in filing.partners if filing else []:
            filed |= part.covers
        has = None if filing is None else (filing.has_partner or bool(filing.partners))
        now_cov = filed | agreed.get(f.facility_id, 0)
        if f.facility_id in agreed:
            has = True
        info = FACILITY_KINDS[f.kind]
        st = status_of(info.required, now_cov, has)
        fac_rows.append(
            {
                "facility_id": f.facility_id,
                "name": f.name,
                "kind": f.kind,
                "municipality_code": f.municipality_code,
                "filing_year": "" if filing is None else filing.filing_year,
                "covered_filed": format_capabilities(filed),
                "covered_agreed": format_capabilities(agreed.get(f.facility_id, 0)),
                "status": st.value,
                "missing": format_capabilities(info.required & ~now_cov),
                "施設種別": info.label_ja,
                "状況": st.label_ja,
                "不足している要件": format_capabilities_ja(info.required & ~now_cov)
                if info.required & ~now_cov
                else "",
            }
        )
    proposals = list_proposals(session, area.code)
    prop_rows = [
        {
            "proposal_id": p.id,
            "facility_id": p.facility_id,
            "institution_id": p.institution_id,
            "covers": p.covers,
            "distance_km": round(p.distance_km, 3),
            "status": p.status,
            "version": p.version,
            "run_id": "" if p.run_id is None else p.run_id,
            "updated_at": p.updated_at.isoformat(timespec="seconds"),
            "updated_by": p.updated_by,
            "施設名": p.facility_name,
            "医療機関名": p.institution_name,
            "状態": p.status_ja,
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
    decls = current_declarations(session, [i.institution_id for i in insts], on)
    used = capacity_use(session, decls)
    inst_rows = []
    for i in insts:
        d = decls.get(i.institution_id)
        cap = None if d is None else (0 if not d.willing else d.capacity)
        n_used = used.get(i.institution_id, 0)
        inst_rows.append(
            {
                "institution_id": i.institution_id,
                "name": i.name,
                "kind": i.kind,
                "offers": format_capabilities(
                    i.offers if d is None or d.offers is None else d.offers
                ),
                "capacity": "" if cap is None else cap,
                "used": n_used,
                "remaining": "" if cap is None else max(0, cap - n_used),
                "municipality_code": i.municipality_code,
                "種別": INSTITUTION_KIND_JA.get(i.kind, i.kind),
                "受入枠": "申告なし(上限なし)"
                if cap is None
                else f"{cap}(残り{max(0, cap - n_used)})",
            }
        )
    return {
        "facilities": pd.DataFrame(fac_rows),
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
                "施設名",
                "医療機関名",
                "状態",
            ],
        ),
        "institutions": pd.DataFrame(inst_rows),
    }


def write_export(frames: dict[str, pd.DataFrame], out: str | Path) -> list[Path]:
    """``*.xlsx``: one workbook with a sheet per table; otherwise a folder of CSVs (UTF-8 with BOM)."""
    out = Path(out)
    if out.suffix.lower() == ".xlsx":
        out.parent.mkdir(parents=True, exist_ok=True)
        with pd.ExcelWriter(out, engine="openpyxl") as xl:
            for name, df in frames.items():
                df.to_excel(xl, sheet_name=SHEETS_JA.get(name, name), index=False)
        return [out]
    return [write_csv(df, out / f"{name}.csv") for name, df in frames.items()]
