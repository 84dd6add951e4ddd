"""Real-format imports into the store: a source's files → its importer → joined with the store.

The importers of ``matcher.sources`` read and check the files exactly as ``kyoryoku import``
does; what they would have joined onto a CSV is joined here onto what the store already holds,
and the result goes through the idempotent writers of ``store.imports``:

- ``kaigo``: facilities (+ a simple CSV of 養護/軽費 homes), written with
  ``import_facilities``;
- ``navii``: institutions; offers and 厚生局 flags already stored are kept
  (``import_institutions``);
- ``kouseikyoku``: flags joined to stored institutions; a joined one's offers become what its
  flags imply (``import_institutions``);
- ``declarations``: one declaration per stored institution, valid from ``declared_on``
  (``import_declarations``);
- ``filings``: one filing per stored facility and filing year, partners with their ①②③
  (``import_filings``).

Re-importing the same file changes nothing. Rows the importer rejects, rows that join nothing in
the store and filings of facilities the store does not hold are the result's ``rejected`` rows
(written by the caller as ``*.rejects.csv``, like the file importers). Run inside
``Store.write()``: an import that fails half-way leaves the store as it was.

``within`` limits an import to some municipalities (the web: a coordinator's area): whatever would
be written for a facility or institution outside them is left out and reported as a rejected row
(category ``skipped``) instead.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from .._errors import InputError, RowIssue
from ..model import Facility, Institution
from ..sources import declarations as src_declarations
from ..sources import filings as src_filings
from ..sources import kaigo_registry, kouseikyoku, navii
from ..sources.importing import (
    SOURCE_LABELS_JA,
    check_source,
    merge_listed_facilities,
)
from ..sources.report import ImportResult, RejectedRow
from ..vocab import ALL_MASK, admissible_offers
from ..wareki import today as today_jp
from .areas import code5_of
from .imports import (
    Declaration,
    Filing,
    FilingPartner,
    ImportStats,
    fiscal_year,
    import_declarations,
    import_facilities,
    import_filings,
    import_institutions,
)
from .models import FacilityRow, InstitutionRow
from .state import registry_facility, registry_institution

# The keys ``kouseikyoku.apply_flags`` adds to an institution's extra.
FLAG_KEYS = ("medical_code", "flags", "flag_join", "already_partner")
STATS_LABELS_JA = {
    "facilities": "施設",
    "institutions": "医療機関",
    "filings": "届出",
    "declarations": "申出",
}
# Whether an import may write for a municipality (given by the first five digits of its code).
Within = Callable[[str], bool]


@dataclass
class SourceImport:
    """What one ``kyoryoku db import`` read, joined and wrote."""

    source: str
    read: ImportResult[Any]  # items: the source's own record type
    joined: ImportResult[Any] | None = None
    stats: dict[str, ImportStats] = field(default_factory=dict)
    accepted: int = (
        0  # items handed to the writers (facilities, institutions, filings, declarations)
    )
    outside: list[RejectedRow] = field(default_factory=list)  # left out by ``within``

    @property
    def rejected(self) -> list[RejectedRow]:
        return (
            self.read.rejected
            + (self.joined.rejected if self.joined is not None else [])
            + self.outside
        )

    @property
    def warnings(self) -> list[RowIssue]:
        return self.read.warnings + (self.joined.warnings if self.joined is not None else [])

    @property
    def changed(self) -> bool:
        return any(s.changed for s in self.stats.values())

    def lines_ja(self) -> list[str]:
        """Short Japanese report lines for the terminal."""
        lines = [SOURCE_LABELS_JA[self.source], f"  {self.read.summary_ja()}"]
        if self.joined is not None:
            lines.append(f"  結合: {self.joined.summary_ja()}")
        for key, st in self.stats.items():
            lines.append(f"  データベース({STATS_LABELS_JA[key]}): {st.summary_ja()}")
        return lines


def stored_facilities(session: Session) -> list[Facility]:
    """Every facility in the store (coverage not loaded: that is the filings')."""
    return [
        registry_facility(r)
        for r in session.scalars(select(FacilityRow).order_by(FacilityRow.facility_id))
    ]


def stored_institutions(session: Session) -> list[Institution]:
    """Every institution in the store with its stored offers (capacity is the declarations')."""
    return [
        registry_institution(r)
        for r in session.scalars(select(InstitutionRow).order_by(InstitutionRow.institution_id))
    ]


def _source(source: str, files: Sequence[Path]) -> str:
    return f"{source}:{','.join(p.name for p in files)}"[:200]


def _year_of(text: str) -> int | None:
    """The 年度 of a date written ``2025-06-30`` / ``2025/6/30`` / ``2025年6月30日``; None if
    none."""
    m = re.search(r"(\d{4})\D(\d{1,2})\D(\d{1,2})", text)
    if not m:
        return None
    try:
        return fiscal_year(dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3))))
    except ValueError:
        return None


_Item = TypeVar("_Item", Facility, Institution)


class _Scope:
    """Splits what an import would write into what ``within`` allows and rejected rows."""

    def __init__(self, within: Within | None) -> None:
        self.within = within
        self.outside: list[RejectedRow] = []

    def allows(self, item: Facility | Institution, file: str, row: int | None = None) -> bool:
        if self.within is None or self.within(code5_of(item.municipality_code)):
            return True
        key = "facility_id" if isinstance(item, Facility) else "institution_id"
        ident = item.facility_id if isinstance(item, Facility) else item.institution_id
        self.outside.append(
            RejectedRow(
                file,
                row,
                f"municipality_code: 「{item.municipality_code}」担当地域外の市区町村です",
                {key: ident, "name": item.name, "municipality_code": item.municipality_code},
                "skipped",
            )
        )
        return False

    def keep(self, items: Sequence[_Item], files: list[Path]) -> list[_Item]:
        names = ",".join(p.name for p in files)
        return [i for i in items if self.allows(i, names)]


def _done(result: SourceImport, scope: _Scope, accepted: int) -> SourceImport:
    result.accepted, result.outside = accepted, scope.outside
    return result


def _kaigo(
    session: Session, files: list[Path], facilities: Path | None, scope: _Scope
) -> SourceImport:
    read = kaigo_registry.import_kaigo(files)
    items, joined = read.items, None
    if facilities is not None:
        joined = merge_listed_facilities(read.items, facilities)
        items = joined.items
    items = scope.keep(items, files)
    return _done(
        SourceImport("kaigo", read, joined, {"facilities": import_facilities(session, items)}),
        scope,
        len(items),
    )


def _navii(session: Session, files: list[Path], scope: _Scope) -> SourceImport:
    read = navii.import_navii(files)
    stored = {i.institution_id: i for i in stored_institutions(session)}
    items = []
    for inst in read.items:
        before = stored.get(inst.institution_id)
        if before is not None:  # ナビイ says nothing about offers: keep what 厚生局 flags gave
            kept = {k: v for k, v in before.extra.items() if k in FLAG_KEYS}
            inst = dataclasses.replace(inst, offers=before.offers, extra={**inst.extra, **kept})
        items.append(inst)
    items = scope.keep(items, files)
    return _done(
        SourceImport("navii", read, None, {"institutions": import_institutions(session, items)}),
        scope,
        len(items),
    )


def _kouseikyoku(session: Session, files: list[Path], scope: _Scope) -> SourceImport:
    read = kouseikyoku.import_kouseikyoku(files)
    # Offers of a joined institution are what this 名簿 implies (a flag dropped from it is gone).
    base = [
        dataclasses.replace(
            i, offers=0, extra={k: v for k, v in i.extra.items() if k not in FLAG_KEYS}
        )
        for i in stored_institutions(session)
    ]
    joined = kouseikyoku.apply_flags(base, read.items)
    flagged = scope.keep([i for i in joined.items if "flag_join" in i.extra], files)
    return _done(
        SourceImport(
            "kouseikyoku", read, joined, {"institutions": import_institutions(session, flagged)}
        ),
        scope,
        len(flagged),
    )


def _declarations(
    session: Session, files: list[Path], declared_on: dt.date, scope: _Scope
) -> SourceImport:
    read = src_declarations.import_declarations(files)
    insts = stored_institutions(session)
    chosen, joined = src_declarations.match_declarations(insts, read.items)
    chosen = {k: d for k, d in chosen.items() if scope.allows(insts[k], d.file, d.row)}
    joined.rows_read = len(read.items)
    joined.items = [insts[k] for k in sorted(chosen)]  # the institutions that declared
    source = _source("declarations", files)
    decls = []
    for k, d in sorted(chosen.items()):
        inst, offers = insts[k], d.offers
        if offers is not None and admissible_offers(inst.kind, offers) != offers & ALL_MASK:
            joined.warnings.append(src_declarations.clinic_admit_ignored(d))
            offers = admissible_offers(inst.kind, offers)
        decls.append(
            Declaration(
                inst.institution_id,
                declared_on,
                d.capacity,
                offers,
                d.willing,
                None,
                source,
                d.infection_agreement,
            )
        )
    return _done(
        SourceImport(
            "declarations", read, joined, {"declarations": import_declarations(session, decls)}
        ),
        scope,
        len(decls),
    )


def _filings(
    session: Session, files: list[Path], filing_year: int | None, scope: _Scope
) -> SourceImport:
    read = src_filings.import_filings(files, stored_institutions(session))
    facilities = stored_facilities(session)
    joined = src_filings.apply_filings(facilities, read.items)  # unmatched filings, kind warnings
    by_id = {f.facility_id: f for f in read.items}
    source = _source("filings", files)
    today = fiscal_year()
    out = []
    filed = []
    for fac in facilities:
        filing = by_id.get(fac.facility_id) or by_id.get(fac.facility_id.split("-")[0])
        if filing is None or not scope.allows(
            fac, filing.file, filing.rows[0] if filing.rows else None
        ):
            continue
        filed.append(fac)
        year = filing_year if filing_year is not None else _year_of(filing.confirmed_on) or today
        partners = tuple(
            # an unmatched partner keeps the code it was filed under: linked if that institution
            # is imported later (``imports.link_filed_partners``)
            FilingPartner(
                p.name, p.provides, p.institution_id or p.code or None, p.infection_agreement
            )
            for p in filing.partners
        )
        out.append(Filing(fac.facility_id, year, filing.has_partner, partners, 0, source))
    joined.items = filed  # the facilities that filed (only their filings are written)
    return _done(
        SourceImport("filings", read, joined, {"filings": import_filings(session, out)}),
        scope,
        len(out),
    )


def import_source(
    session: Session,
    source: str,
    files: Sequence[str | Path],
    *,
    facilities: str | Path | None = None,
    filing_year: int | None = None,
    declared_on: dt.date | None = None,
    within: Within | None = None,
) -> SourceImport:
    """Import ``files`` of one ``source`` (``kaigo``, ``navii``, ``kouseikyoku``, ``declarations``,
    ``filings``) into the store; see the module docstring.

    ``facilities`` (kaigo only) is a simple facilities CSV merged in (養護/軽費 homes).
    ``filing_year`` defaults to the 年度 of each filing's 確認日, else the current 年度;
    ``declared_on`` (the declarations' start) to today. ``within`` (default: everywhere) tells
    for a municipality's first five digits whether this import may write there.
    """
    paths = [Path(p) for p in files]
    check_source(source)
    if facilities is not None and source != "kaigo":
        raise InputError(
            RowIssue("", None, None, None, "--facilities は kaigo の取り込みでのみ使えます")
        )
    scope = _Scope(within)
    if source == "kaigo":
        return _kaigo(session, paths, Path(facilities) if facilities is not None else None, scope)
    if source == "navii":
        return _navii(session, paths, scope)
    if source == "kouseikyoku":
        return _kouseikyoku(session, paths, scope)
    if source == "declarations":
        return _declarations(session, paths, declared_on or today_jp(), scope)
    return _filings(session, paths, filing_year, scope)
