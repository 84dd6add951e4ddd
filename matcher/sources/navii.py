"""医療情報ネット (ナビイ) open data, 施設票 of hospitals and clinics → canonical institutions.

Kind comes from 機関区分 (1 病院 → hospital, 2 診療所 → clinic; dental and others are skipped).
``municipality_code`` is the 6-digit 全国地方公共団体コード (都道府県コード + 市区町村コード plus
the check digit), the same form as the facilities'. Coordinates 0 or blank fall back to the
municipality's point (``geocode="municipality"``, with a row message). The header is searched
in the top rows of every sheet and ZIP member (a download's ``*-2_speciality_hours`` member is
reported as passed over, not read). Bed counts are kept in ``extra`` (``beds_general`` …).
Offers are empty:
the registry says nothing about ①②③ until joined with 厚生局 flags or declarations.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .._errors import RowIssue
from ..geocode import normalize_municipality_code
from ..model import Institution
from ..validate import validate_institutions
from .columns import Table, cell_reader
from .report import (
    ImportResult,
    RejectedRow,
    SourceRow,
    locate_row,
    read_registry,
    validate_into,
)

COLUMNS: dict[str, tuple[str, ...]] = {
    "id": ("ID",),
    "name": ("正式名称",),
    "short_name": ("略称",),
    "category": ("機関区分",),
    "pref_code": ("都道府県コード",),
    "city_code": ("市区町村コード",),
    "address": ("所在地",),
    "lat": ("所在地座標(緯度)", "緯度"),
    "lon": ("所在地座標(経度)", "経度"),
    "url": ("案内用ホームページアドレス",),
    "beds_general": ("一般病床",),
    "beds_long_term": ("療養病床",),
    "beds_psychiatric": ("精神病床",),
    "beds_tuberculosis": ("結核病床",),
    "beds_infectious": ("感染症病床",),
    "beds_total": ("合計病床数",),
}
REQUIRED = {"id": "ID", "name": "正式名称", "category": "機関区分", "address": "所在地"}
CATEGORIES = {"1": "hospital", "2": "clinic", "病院": "hospital", "診療所": "clinic"}
_BEDS = tuple(k for k in COLUMNS if k.startswith("beds_"))


ANCHOR = ("id", "name", "category")
WHAT = "ナビイ施設票"


def _read_table(t: Table) -> tuple[list[SourceRow], list[RejectedRow], list[RowIssue], int]:
    file, found = t.where, t.found
    rows: list[SourceRow] = []
    rejected: list[RejectedRow] = []
    warnings: list[RowIssue] = []
    for rec in t.records:
        row = int(rec["__row__"])
        original = {k: v for k, v in rec.items() if k != "__row__"}

        get = cell_reader(rec, found)

        category = get("category")
        kind = CATEGORIES.get(category)
        if kind is None:
            rejected.append(
                RejectedRow(
                    file,
                    row,
                    f"機関区分「{category or '(空欄)'}」は病院・診療所ではありません",
                    original,
                    "skipped",
                )
            )
            continue
        pref, city = get("pref_code"), get("city_code")
        code = normalize_municipality_code(pref.zfill(2) + city.zfill(3)) if pref and city else ""
        where = locate_row(
            file,
            row,
            original,
            found,
            get("lat"),
            get("lon"),
            code,
            get("address"),
            rejected,
            warnings,
        )
        if where is None:
            continue
        canonical = {
            "institution_id": get("id"),
            "name": get("name"),
            "kind": kind,
            "lat": repr(where.lat),
            "lon": repr(where.lon),
            "offers": "",
            "capacity": "",
            "municipality_code": code,
            "address": get("address"),
            "geocode": where.precision,
            **{k: get(k) for k in _BEDS},
        }
        rows.append(SourceRow(file, row, canonical, original))
    return rows, rejected, warnings, len(t.records)


def import_navii(paths: str | Path | Sequence[str | Path]) -> ImportResult[Institution]:
    """Read ナビイ 施設票 files (hospital and/or clinic; CSV or the ZIP as downloaded).

    Returns institutions with empty ``offers`` and undeclared capacity; join them with
    ``kouseikyoku.apply_flags`` and ``declarations.apply_declarations``.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    out: ImportResult[Institution] = ImportResult()
    rows = read_registry(paths, COLUMNS, ANCHOR, REQUIRED, WHAT, _read_table, out)
    validate_into(out, rows, validate_institutions, "institution_id")
    return out
