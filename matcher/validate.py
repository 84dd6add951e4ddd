"""Validation of canonical facility/institution tables into model objects, row by row.

Every importer maps its own layout onto the canonical columns of MODEL.md and calls these, so
the rules (coordinates in Japan, known kinds, unique ids, clinics not admitting, capacities ≥ 0)
live in one place. Row numbers are the ones a user sees in Excel: the header is row 1.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from ._errors import RowIssue
from .geo import coordinate_problem
from .geocode import normalize_municipality_code
from .model import (
    Facility,
    GeocodePrecision,
    Institution,
    InstitutionKind,
    parse_capabilities,
    parse_facility_kind,
    parse_institution_kind,
)
from .text import CONTROL, HYPHENS, clean_text, control_characters
from .vocab import admissible_offers

T = TypeVar("T")

FACILITY_COLUMNS = (
    "facility_id",
    "name",
    "kind",
    "lat",
    "lon",
    "covered",
    "has_partner",
    "municipality_code",
    "address",
)
INSTITUTION_COLUMNS = (
    "institution_id",
    "name",
    "kind",
    "lat",
    "lon",
    "offers",
    "capacity",
    "municipality_code",
    "address",
)
# Columns ``kyoryoku export`` writes after the simple format's: the store's derived state and
# capacity ledger, never registry data, so reading an export back skips them (``Row.extra``).
DERIVED_COLUMNS = frozenset(
    {
        "site_detected",
        "covered_filed",
        "covered_agreed",
        "status",
        "missing",
        "pending",
        "施設種別",
        "状況",
        "不足している要件",
        "打診中",
        "has_infection_partner",
        "第二種協定の協力医療機関",
        "used",
        "remaining",
        "種別",
        "受入枠",
        "第二種協定",
    }
)
FACILITY_REQUIRED = ("facility_id", "kind", "lat", "lon")
INSTITUTION_REQUIRED = ("institution_id", "kind", "lat", "lon", "offers")

# Lengths the store's schema allows (``matcher.store.models``; a test keeps the two equal), so a
# row accepted here never fails on PostgreSQL later. Text cells beyond ``MAX_CELL`` are refused.
FIELD_LIMITS = {
    "facility_id": 40,
    "institution_id": 40,
    "name": 300,
    "address": 500,
    "municipality_code": 8,
}
MAX_CELL = 2000
MAX_CAPACITY = 100_000  # partner facilities one institution could take: far above any real one
_ID_COLUMNS = ("facility_id", "institution_id")


def clean_cell(value: object) -> str:
    """NFKC text without invisible characters (zero-width spaces, BOM, soft hyphen), stripped.

    A ``'`` that our own writers put before formula-like text (``'=…``) is taken off again.
    """
    text = clean_text(value)
    if len(text) > 1 and text[0] == "'" and text[1] in "=+-@":
        text = text[1:]
    return text


def clean_identifier(value: object) -> str:
    """An id as compared everywhere: ``clean_cell`` with hyphen variants (ー, −, ‐ …) → ``-``."""
    return HYPHENS.sub("-", clean_cell(value))


_TRUE = {"true", "1", "yes", "y", "有", "あり", "はい", "○", "〇", "定めている"}
_FALSE = {"false", "0", "no", "n", "無", "なし", "いいえ", "×", "定めていない"}


@dataclass
class Validated(Generic[T]):
    """Accepted objects, every issue found, and the source row number of each rejected row."""

    items: list[T] = field(default_factory=list)
    issues: list[RowIssue] = field(default_factory=list)
    rejected_rows: dict[int, list[RowIssue]] = field(default_factory=dict)
    item_rows: list[int] = field(default_factory=list)  # the source row of each accepted item
    # Rows whose cells do not line up with the header (``textfile.misaligned_rows``): the file's
    # columns cannot be trusted, so every path refuses the whole file.
    misaligned: list[RowIssue] = field(default_factory=list)

    @property
    def errors(self) -> list[RowIssue]:
        return [i for i in self.issues if i.severity == "error"]

    @property
    def warnings(self) -> list[RowIssue]:
        return [i for i in self.issues if i.severity == "warning"]


class _Row:
    """One row being validated: collects issues that name file, row and column."""

    def __init__(self, file: str, row: int, values: Mapping[str, object]) -> None:
        self.file, self.row, self.values = file, row, values
        self.issues: list[RowIssue] = []

    def text(self, column: str) -> str:
        value = self.values.get(column, "")
        return clean_identifier(value) if column in _ID_COLUMNS else clean_cell(value)

    def check_text(self, columns: tuple[str, ...]) -> None:
        """Field rules of every text cell: no control characters, lengths within the store's."""
        for column in columns:
            raw = self.values.get(column, "")
            if not isinstance(raw, str):
                if raw is None or (isinstance(raw, float) and raw != raw):
                    continue
                raw = str(raw)
            shown = control_characters(raw)
            if shown:
                self.error(
                    column,
                    f"制御文字 ({shown}) が含まれています。削除してから取り込んでください",
                    CONTROL.sub("�", raw)[:60],
                )
                continue
            limit = FIELD_LIMITS.get(column, MAX_CELL)
            # NFKC rarely more than doubles a text; the store refuses what slips through.
            if column == "municipality_code" or len(raw) * 4 <= limit:
                continue  # the code has its own, stricter rule (``municipality_code``)
            text = self.text(column)
            if len(text) > limit:
                self.error(column, f"{len(text)} 文字あります (上限 {limit} 文字)", text[:40] + "…")

    def error(self, column: str | None, message: str, value: object = None) -> None:
        shown = self.text(column) if (value is None and column) else value
        self.issues.append(
            RowIssue(self.file, self.row, column, None if shown is None else str(shown), message)
        )

    def warn(self, column: str | None, message: str, value: object = None) -> None:
        shown = self.text(column) if (value is None and column) else value
        self.issues.append(
            RowIssue(
                self.file,
                self.row,
                column,
                None if shown is None else str(shown),
                message,
                "warning",
            )
        )

    @property
    def failed(self) -> bool:
        return any(i.severity == "error" for i in self.issues)

    def parse(self, column: str, parser: Callable[[object], T], default: T) -> T:
        try:
            return parser(self.values.get(column, ""))
        except ValueError as exc:
            self.error(column, str(exc))
            return default

    def number(self, column: str) -> float | None:
        text = self.text(column)
        if text == "":
            return None
        try:
            value = float(text)
        except ValueError:
            self.error(column, "数値ではありません")
            return None
        if not math.isfinite(value):
            self.error(column, "有限の数値ではありません (inf・NaN は使えません)")
            return None
        return value

    def municipality_code(self) -> str:
        text = self.text("municipality_code")
        if text and not normalize_municipality_code(text):
            self.error(
                "municipality_code",
                "市区町村コードではありません (5桁、または検査数字付きの6桁)",
            )
        return text

    def coordinates(self) -> tuple[float, float]:
        lat, lon = self.number("lat"), self.number("lon")
        if self.failed:
            return 0.0, 0.0
        problem = coordinate_problem(lat, lon)
        if problem:
            self.error("lat", problem, f"{self.text('lat')}, {self.text('lon')}")
        return (lat or 0.0), (lon or 0.0)

    def flag(self, column: str) -> bool | None:
        text = self.text(column).lower()
        if text == "":
            return None
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        self.error(column, "true/false (有/無) で指定してください")
        return None

    def extra(self, known: tuple[str, ...]) -> dict[str, str]:
        return {
            str(k): clean_cell(v)
            for k, v in self.values.items()
            if k not in known and k not in DERIVED_COLUMNS and clean_cell(v)
        }


_NUMERIC = ("lat", "lon", "capacity")


def _missing_columns(file: str, columns: list[str], required: tuple[str, ...]) -> list[RowIssue]:
    return [
        RowIssue(file, 1, col, None, f"必須列「{col}」がありません (ある列: {', '.join(columns)})")
        for col in required
        if col not in columns
    ]


def _validate(
    records: list[Mapping[str, object]],
    file: str,
    columns: list[str],
    required: tuple[str, ...],
    id_column: str,
    build: Callable[[_Row], T | None],
    first_row: int,
    row_numbers: Sequence[int] | None = None,
) -> Validated[T]:
    out: Validated[T] = Validated()
    out.issues = _missing_columns(file, columns, required)
    if out.issues:
        return out
    seen: dict[str, int] = {}
    for offset, values in enumerate(records):
        number = row_numbers[offset] if row_numbers is not None else first_row + offset
        row = _Row(file, number, values)
        row.check_text(tuple(str(k) for k in values if str(k) not in _NUMERIC))
        ident = row.text(id_column)
        if ident == "":
            row.error(id_column, "ID が空です")
        elif ident in seen:
            row.error(id_column, f"ID が重複しています ({seen[ident]}行目と同じ)")
        else:
            seen[ident] = row.row
        item = build(row)
        out.issues.extend(row.issues)
        if row.failed or item is None:
            out.rejected_rows[row.row] = [i for i in row.issues if i.severity == "error"]
        else:
            out.items.append(item)
            out.item_rows.append(row.row)
    return out


def _build_facility(row: _Row) -> Facility | None:
    kind = row.parse("kind", parse_facility_kind, "")
    lat, lon = row.coordinates()
    covered = row.parse("covered", parse_capabilities, 0)
    has_partner = row.flag("has_partner")
    if covered and has_partner is False:
        row.warn(
            "has_partner",
            "covered があるのに has_partner が false です: 協力医療機関ありとして扱います",
        )
    if covered:
        has_partner = True
    code = row.municipality_code()
    if row.failed:
        return None
    return Facility(
        facility_id=row.text("facility_id"),
        name=row.text("name"),
        kind=kind,
        lat=lat,
        lon=lon,
        covered=covered,
        has_partner=has_partner,
        municipality_code=code,
        address=row.text("address"),
        geocode=_precision(row.text("geocode")),
        extra=row.extra(FACILITY_COLUMNS + ("geocode",)),
    )


def _precision(text: str) -> GeocodePrecision:
    """The ``geocode`` column: ``municipality`` when it says so, else ``exact``."""
    return GeocodePrecision.MUNICIPALITY if text == "municipality" else GeocodePrecision.EXACT


def _build_institution(row: _Row) -> Institution | None:
    kind = row.parse("kind", parse_institution_kind, InstitutionKind.CLINIC)
    lat, lon = row.coordinates()
    offers = row.parse("offers", parse_capabilities, 0)
    admissible = admissible_offers(kind, offers)
    if admissible != offers:  # a clinic claiming ③
        row.warn("offers", "診療所は③入院受入を提供できません(③は病院に限る): ③を無視します")
        offers = admissible
    capacity: int | None = None
    cap_text = row.text("capacity")
    if cap_text != "":
        try:
            value = float(cap_text)
        except ValueError:
            row.error("capacity", "受入可能数が数値ではありません")
        else:
            if not math.isfinite(value):
                row.error(
                    "capacity", "受入可能数が有限の数値ではありません (inf・NaN は使えません)"
                )
            elif value < 0:
                row.error("capacity", "受入可能数が負の値です")
            elif value != int(value):
                row.error("capacity", "受入可能数は整数で指定してください")
            elif value > MAX_CAPACITY:
                row.error("capacity", f"受入可能数が大きすぎます (上限 {MAX_CAPACITY:,})")
            else:
                capacity = int(value)
    code = row.municipality_code()
    if row.failed:
        return None
    return Institution(
        institution_id=row.text("institution_id"),
        name=row.text("name"),
        kind=kind,
        lat=lat,
        lon=lon,
        offers=int(offers),
        capacity=capacity,
        municipality_code=code,
        address=row.text("address"),
        geocode=_precision(row.text("geocode")),
        extra=row.extra(INSTITUTION_COLUMNS + ("geocode",)),
    )


def validate_facilities(
    records: list[Mapping[str, object]],
    file: str,
    columns: list[str],
    first_row: int = 2,
    row_numbers: Sequence[int] | None = None,
) -> Validated[Facility]:
    """Turn canonical facility records into ``Facility`` objects, collecting every issue.

    Rows are numbered from ``first_row``, or by ``row_numbers`` (one per record) when the
    records are not consecutive rows of the file."""
    return _validate(
        records,
        file,
        columns,
        FACILITY_REQUIRED,
        "facility_id",
        _build_facility,
        first_row,
        row_numbers,
    )


def validate_institutions(
    records: list[Mapping[str, object]],
    file: str,
    columns: list[str],
    first_row: int = 2,
    row_numbers: Sequence[int] | None = None,
) -> Validated[Institution]:
    """Turn canonical institution records into ``Institution`` objects, collecting every issue."""
    return _validate(
        records,
        file,
        columns,
        INSTITUTION_REQUIRED,
        "institution_id",
        _build_institution,
        first_row,
        row_numbers,
    )
