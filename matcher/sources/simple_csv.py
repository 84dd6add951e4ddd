"""The simple CSV exchange format of MODEL.md: read facilities/institutions, write them back."""

from __future__ import annotations

import hashlib
import re
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path, PurePath
from typing import Literal, TypeVar

import pandas as pd

from .._errors import InputError, RowIssue
from ..geocode import locate
from ..model import Facility, Institution, format_capabilities, normalize_text
from ..validate import (
    FACILITY_COLUMNS,
    FACILITY_REQUIRED,
    INSTITUTION_COLUMNS,
    INSTITUTION_REQUIRED,
    Validated,
    validate_facilities,
    validate_institutions,
)
from ..vocab import code5_of
from .cells import safe_frame
from .columns import Table, find_tables
from .report import Notice
from .textfile import TABLE_SUFFIXES, misaligned_rows, write_csv

FACILITY_SPEC: dict[str, tuple[str, ...]] = {
    "facility_id": ("facility_id", "施設ID", "施設番号", "事業所番号"),
    "name": ("name", "施設名", "施設名称", "事業所名", "名称"),
    "kind": ("kind", "施設種別", "種別"),
    "lat": ("lat", "緯度"),
    "lon": ("lon", "経度"),
    "covered": ("covered",),
    "has_partner": ("has_partner",),
    "municipality_code": ("municipality_code", "市区町村コード", "市町村コード"),
    "address": ("address", "所在地", "住所"),
    # Optional (kept in ``Facility.extra``): the site and corporation of ``matcher.sites``.
    "site_id": ("site_id", "建物ID", "サイトID"),
    "corporate_number": ("corporate_number", "法人番号"),
    "corporate_name": ("corporate_name", "法人の名称", "法人名"),
}
INSTITUTION_SPEC: dict[str, tuple[str, ...]] = {
    "institution_id": ("institution_id", "医療機関ID", "医療機関コード"),
    "name": ("name", "医療機関名", "名称"),
    "kind": ("kind", "種別"),
    "lat": ("lat", "緯度"),
    "lon": ("lon", "経度"),
    "offers": ("offers",),
    "capacity": ("capacity", "受入可能数"),
    "municipality_code": ("municipality_code", "市区町村コード"),
    "address": ("address", "所在地", "住所"),
    # Optional (kept in ``Institution.extra``): the corporation of ``matcher.corporation``.
    "corporate_number": ("corporate_number", "法人番号"),
    "corporate_name": ("corporate_name", "法人の名称", "開設者", "法人名"),
}


def _list_kind(value: object) -> str:
    """A prefecture list's 施設種別 (``軽費老人ホーム(A型)``, ``ケアハウス``…) as a kind code."""
    text = normalize_text(value)
    if "養護" in text and "特別養護" not in text:
        return "yogo"
    if "軽費" in text or "ケアハウス" in text:
        return "keihi"
    return text


def _canonical(
    path: Path, spec: dict[str, tuple[str, ...]], id_column: str
) -> tuple[list[dict[str, object]], list[str], list[RowIssue], int]:
    """Records of a simple-format file (or a prefecture's list with Japanese headers) mapped onto
    the canonical columns; the header is searched in the top rows of every sheet.

    A list without an id column gets ids made from name and address, and rows without usable
    coordinates are placed at their municipality's point (marked approximate), each with a note.
    A row whose cells do not line up with the header (``textfile.misaligned_rows``) is an error
    in the notes and is not mapped.
    """
    what = "施設一覧" if id_column == "facility_id" else "医療機関一覧"
    row_required = FACILITY_REQUIRED if id_column == "facility_id" else INSTITUTION_REQUIRED
    required = {"kind": "kind (施設種別)", "lat": "lat (緯度)", "lon": "lon (経度)"}
    tables = find_tables([path], spec, ("kind", "lat"), required, what)
    records: list[dict[str, object]] = []
    notes: list[RowIssue] = list(tables.skipped)
    columns: list[str] = []
    first_row = 0
    for t in tables.tables:
        listed = id_column not in t.found
        back = {h: c for c, h in t.found.items()}
        columns = [back.get(h, h) for h in t.headers] + ([id_column] if listed else [])
        # A prefecture's list gets its ids made and its rows without coordinates placed at their
        # municipality, so a short row of one may leave those cells out.
        needed = [c for c in row_required if not (listed and c in (id_column, "lat", "lon"))]
        misaligned = _misaligned(t, back, needed)
        notes.extend(misaligned)
        skip = {i.row for i in misaligned}
        for rec in t.records:
            row = int(rec["__row__"])
            if row in skip:
                continue  # its values sit under the wrong columns: reported, not validated
            first_row = first_row or row
            out: dict[str, object] = {back.get(h, h): v for h, v in rec.items() if h != "__row__"}
            out["__row__"] = row
            if listed:
                out["kind"] = _list_kind(out.get("kind", ""))
                digest = hashlib.sha1(
                    f"{normalize_text(out.get('name'))}|{normalize_text(out.get('address'))}".encode()
                ).hexdigest()[:10]
                out[id_column] = f"L{code5_of(out.get('municipality_code', '')) or 'x'}-{digest}"
                where = locate(
                    out.get("lat"), out.get("lon"), out.get("municipality_code"), out.get("address")
                )
                if where.ok and where.note:
                    out["lat"], out["lon"] = repr(where.lat), repr(where.lon)
                    out["geocode"] = where.precision
                    notes.append(
                        Notice(
                            t.where,
                            row,
                            "lat",
                            f"{rec.get(t.found.get('lat', ''), '')}",
                            where.note,
                            "warning",
                            where.kind,
                        )
                    )
            records.append(out)
    return records, columns, notes, first_row or 2


def _misaligned(t: Table, back: Mapping[str, str], required: Sequence[str]) -> list[RowIssue]:
    """Rows of ``t`` whose cells do not line up with its header: more cells than the header, or
    fewer where a ``required`` canonical column is left out."""
    if t.grid is None:
        return []
    positions = [j for j, h in enumerate(t.headers) if back.get(h) in required]
    return misaligned_rows(t.grid, t.header_row - 1, t.where, positions)


T = TypeVar("T")


def _pop_row(rec: dict[str, object]) -> int:
    """Take the source row number ``_canonical`` stored in ``__row__`` off a record."""
    row = rec.pop("__row__")
    assert isinstance(row, int)  # always set as an int by _canonical
    return row


def _load(
    path: str | Path,
    spec: dict[str, tuple[str, ...]],
    id_column: str,
    validator: Callable[..., Validated[T]],
    strict: bool,
) -> Validated[T]:
    path = Path(path)
    records, columns, notes, _ = _canonical(path, spec, id_column)
    rows = [_pop_row(rec) for rec in records]
    result = validator(records, path.name, columns, 2, rows)
    result.issues = notes + result.issues
    for issue in notes:
        if issue.severity == "error" and issue.row is not None:  # a misaligned row
            result.rejected_rows.setdefault(issue.row, []).append(issue)
            result.misaligned.append(issue)
    if strict and result.errors:
        raise InputError(result.errors)
    return result


def load_facilities(path: str | Path, strict: bool = True) -> Validated[Facility]:
    """Read ``facilities.csv`` or a prefecture's 養護/軽費 list (Japanese headers 施設種別, 施設名,
    所在地, 市区町村コード, 緯度, 経度; CSV or Excel); with ``strict`` any error raises
    ``InputError`` listing all of them."""
    return _load(path, FACILITY_SPEC, "facility_id", validate_facilities, strict)


def load_institutions(path: str | Path, strict: bool = True) -> Validated[Institution]:
    """Read ``institutions.csv``; with ``strict`` any error raises ``InputError`` listing all."""
    return _load(path, INSTITUTION_SPEC, "institution_id", validate_institutions, strict)


def load_upload(
    kind: Literal["facilities", "institutions"], name: str, data: bytes
) -> Validated[Facility] | Validated[Institution]:
    """An uploaded file read exactly as ``load_facilities`` / ``load_institutions`` read one on
    disk (the web's import and the CLI's agree), not strict: every row is accepted or rejected
    with its reasons. The file keeps the user's name (made safe), so messages name it."""
    base = re.sub(r"[^\w.\-()（）]", "_", PurePath(name.replace("\\", "/")).name)[:120]
    base = base.lstrip(".") or "upload.csv"
    if PurePath(base).suffix.lower() not in (*TABLE_SUFFIXES, ".zip", ".gz"):
        base += ".csv"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / base
        path.write_bytes(data)
        if kind == "facilities":
            return load_facilities(path, strict=False)
        return load_institutions(path, strict=False)


def facilities_frame(facilities: Iterable[Facility]) -> pd.DataFrame:
    """Facilities in the simple format's columns (extra columns appended)."""
    rows = [
        _place_cells(
            f,
            {"facility_id": f.facility_id},
            covered=format_capabilities(f.covered),
            has_partner="" if f.has_partner is None else str(f.has_partner).lower(),
        )
        for f in facilities
    ]
    return _frame(rows, FACILITY_COLUMNS, _OPTIONAL)


# Optional columns written right after the fixed ones when some row has them.
_OPTIONAL = ("site_id", "corporate_number", "corporate_name")


def institutions_frame(institutions: Iterable[Institution]) -> pd.DataFrame:
    """Institutions in the simple format's columns (extra columns appended)."""
    rows = [
        _place_cells(
            i,
            {"institution_id": i.institution_id},
            offers=format_capabilities(i.offers),
            capacity="" if i.capacity is None else str(i.capacity),
        )
        for i in institutions
    ]
    return _frame(rows, INSTITUTION_COLUMNS)


def _frame(
    rows: list[dict[str, object]], fixed: Sequence[str], optional: Sequence[str] = ()
) -> pd.DataFrame:
    """``rows`` under the ``fixed`` columns, then the ``optional`` ones some row has, then any
    other key of a row in first-seen order."""
    cols = list(fixed) + [c for c in optional if any(c in r for r in rows)]
    return pd.DataFrame(rows, columns=_columns(cols, rows))


def _place_cells(p: Facility | Institution, ident: dict[str, str], **own: str) -> dict[str, object]:
    """A facility's or an institution's row: ``ident``, name, kind, coordinates, ``own`` (its
    coverage or offers), municipality, address, then a geocode other than exact and the extras."""
    return {
        **ident,
        "name": p.name,
        "kind": p.kind,
        "lat": f"{p.lat:.6f}",
        "lon": f"{p.lon:.6f}",
        **own,
        "municipality_code": p.municipality_code,
        "address": p.address,
        **({"geocode": p.geocode} if p.geocode != "exact" else {}),
        **p.extra,
    }


def _columns(base: list[str], rows: Iterable[Mapping[str, object]]) -> list[str]:
    extra: list[str] = []
    for r in rows:
        extra.extend(k for k in r if k not in base and k not in extra)
    return base + extra


def write_facilities(
    facilities: Iterable[Facility], path: str | Path, encoding: str = "utf-8-sig"
) -> Path:
    """Write ``facilities.csv`` (UTF-8 with BOM by default; ``cp932`` or ``utf-8`` on request)."""
    return _write(facilities_frame(facilities), path, encoding)


def write_institutions(
    institutions: Iterable[Institution], path: str | Path, encoding: str = "utf-8-sig"
) -> Path:
    """Write ``institutions.csv`` (UTF-8 with BOM by default; ``cp932`` or ``utf-8`` on request)."""
    return _write(institutions_frame(institutions), path, encoding)


def _write(df: pd.DataFrame, path: str | Path, encoding: str) -> Path:
    if encoding == "utf-8-sig":
        return write_csv(df, path)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    safe_frame(df).to_csv(path, index=False, encoding=encoding, lineterminator="\r\n")
    return path
