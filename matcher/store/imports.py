"""Idempotent imports into the store: canonical objects in, inserts/updates only where they differ.

Re-importing the same data changes nothing (every function reports ``unchanged``). A filing for a
newer year becomes the facility's current filing while the older years stay as history; a new
declaration closes the institution's open one the day before it starts.

The functions take a session and do not commit: run them inside ``Store.write()`` so that an
import that fails half-way leaves the store as it was.

``Filing`` and ``Declaration`` are plain records here until ``matcher.sources`` defines the
importers' own; the annual-filing and declaration importers should produce (or be mapped onto)
them.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import InstrumentedAttribute, Session, selectinload

from .._errors import InputError, RowIssue
from ..infection import INSTITUTION_KEY, flag
from ..model import FACILITY_KINDS, FILING_KEYS, FILING_YEAR_KEY, Facility, Institution
from ..wareki import today as today_jp
from .areas import code5_of
from .models import (
    Base,
    DeclarationRow,
    FacilityRow,
    FilingPartnerRow,
    FilingRow,
    InstitutionRow,
    utcnow,
)

_CHUNK = 500


@dataclass(frozen=True)
class FilingPartner:
    """A partner named in a filing and which of ①②③ (mask) it meets for the facility."""

    partner_name: str
    covers: int
    institution_id: str | None = None
    infection_agreement: bool | None = None  # 第二種協定指定医療機関 as filed; None: not said


@dataclass(frozen=True)
class Filing:
    """A facility's 協力医療機関 filing for one filing year (年度).

    ``covered`` is coverage known only as a union (the simple CSV format); named partners add
    their own ``covers``.
    """

    facility_id: str
    filing_year: int
    has_partner: bool
    partners: tuple[FilingPartner, ...] = ()
    covered: int = 0
    source: str = ""


@dataclass(frozen=True)
class Declaration:
    """An institution's declaration: willing, capacity (None = not declared), offers (None =
    registry's)."""

    institution_id: str
    valid_from: dt.date
    capacity: int | None
    offers: int | None = None
    willing: bool = True
    valid_to: dt.date | None = None
    source: str = ""
    infection_agreement: bool | None = None  # 第二種協定指定医療機関 as declared; None: not said


@dataclass
class ImportStats:
    """What an import did; ``changed`` is False when re-importing the same data."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    superseded: int = 0  # older filings / declarations that stopped being current
    linked: int = 0  # filed partners linked to an institution imported after their filing
    warnings: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.inserted or self.updated or self.superseded or self.linked)

    def summary_ja(self) -> str:
        return (
            f"追加 {self.inserted} 件、更新 {self.updated} 件、変更なし {self.unchanged} 件"
            + (f"、旧データとして保持 {self.superseded} 件" if self.superseded else "")
            + (f"、届出の協力医療機関と結び付け {self.linked} 件" if self.linked else "")
        )


T = TypeVar("T")
_R = TypeVar("_R", bound=Base)
# The rows ``_upsert`` writes (both carry ``created_at``/``updated_at``).
_Upserted = TypeVar("_Upserted", FacilityRow, InstitutionRow)


def _chunks(items: Sequence[T], size: int = _CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _existing(
    session: Session, model: type[_R], key: InstrumentedAttribute[str], ids: list[str]
) -> dict[str, _R]:
    found: dict[str, _R] = {}
    for chunk in _chunks(sorted(set(ids))):
        for row in session.scalars(select(model).where(key.in_(chunk))):
            found[getattr(row, key.key)] = row
    return found


def _require_known(
    session: Session,
    model: type[_R],
    key: InstrumentedAttribute[str],
    ids: list[str],
    message: str,
) -> None:
    """``InputError`` (one issue per id, saying ``message``) unless every id is in the store."""
    known = _existing(session, model, key, ids)
    unknown = [i for i in ids if i not in known]
    if unknown:
        raise InputError([RowIssue("", None, key.key, i, message) for i in unknown])


def _duplicates(ids: list[str], what: str) -> None:
    seen: set[str] = set()
    dups = sorted({i for i in ids if i in seen or seen.add(i)})  # type: ignore[func-returns-value]
    if dups:
        raise InputError(f"{what}の ID が重複しています: {', '.join(dups[:10])}")


_INT32 = 2**31 - 1


def _schema_issues(model: type[Base], key: str, values: dict[str, object]) -> list[RowIssue]:
    """Values the schema cannot hold on both databases: text longer than its column, NUL
    characters (PostgreSQL refuses them), non-finite floats, integers beyond 32 bits."""
    out: list[RowIssue] = []
    columns = model.__table__.columns
    for name, value in values.items():
        if name not in columns:
            continue
        length = getattr(columns[name].type, "length", None)
        if isinstance(value, str):
            if "\x00" in value:
                out.append(RowIssue("", None, name, key, f"{key}: 「{name}」に NUL 文字があります"))
            elif length is not None and len(value) > length:
                out.append(
                    RowIssue(
                        "",
                        None,
                        name,
                        key,
                        f"{key}: 「{name}」が {len(value)} 文字 (上限 {length})",
                    )
                )
        elif isinstance(value, float) and not math.isfinite(value):
            out.append(
                RowIssue("", None, name, key, f"{key}: 「{name}」が有限の数値ではありません")
            )
        elif isinstance(value, int) and not isinstance(value, bool) and abs(value) > _INT32:
            out.append(RowIssue("", None, name, key, f"{key}: 「{name}」が大きすぎます"))
    return out


def _check_schema(
    model: type[Base], key_name: str, rows: list[tuple[str, dict[str, object]]]
) -> None:
    """``InputError`` listing every value of ``rows`` the store could not hold."""
    issues = [
        i for key, values in rows for i in _schema_issues(model, key, {key_name: key, **values})
    ]
    if issues:
        raise InputError(issues)


def _apply(row: object, values: dict[str, object]) -> bool:
    changed = False
    for key, value in values.items():
        if getattr(row, key) != value:
            setattr(row, key, value)
            changed = True
    return changed


def import_facilities(session: Session, facilities: Iterable[Facility]) -> ImportStats:
    """Insert new facilities and update changed ones (coverage is not here: see filings)."""
    items = list(facilities)
    _duplicates([f.facility_id for f in items], "施設")
    issues = [
        RowIssue("", None, "kind", f.kind, f"施設 {f.facility_id} の種別が不明です")
        for f in items
        if f.kind not in FACILITY_KINDS
    ]
    if issues:
        raise InputError(issues)
    rows = [(f.facility_id, _place_values(f, _drop=FILING_KEYS)) for f in items]
    return _upsert_all(session, FacilityRow, FacilityRow.facility_id, rows)


def _place_values(
    p: Facility | Institution, _drop: Sequence[str] = (), **more: object
) -> dict[str, object]:
    """A facility's or an institution's columns (``more``: the institution's own, after the
    coordinates) from the canonical object; ``_drop`` names extra keys kept elsewhere (a
    facility's filing: ``model.FILING_KEYS``)."""
    return dict(
        name=p.name,
        kind=p.kind,
        lat=float(p.lat),
        lon=float(p.lon),
        **more,
        municipality_code=p.municipality_code,
        code5=code5_of(p.municipality_code),
        address=p.address,
        geocode=p.geocode,
        extra={k: v for k, v in p.extra.items() if k not in _drop},
    )


def _upsert_all(
    session: Session,
    model: type[_Upserted],
    key: InstrumentedAttribute[str],
    rows: list[tuple[str, dict[str, object]]],
) -> ImportStats:
    """Check ``rows`` against the schema, then insert or update each (keyed by ``key``)."""
    stats = ImportStats()
    existing = _existing(session, model, key, [k for k, _ in rows])
    now = utcnow()
    _check_schema(model, key.key, rows)
    for row_key, values in rows:
        _upsert(session, model, key.key, row_key, values, existing, stats, now)
    session.flush()
    return stats


def _upsert(
    session: Session,
    model: type[_Upserted],
    key_name: str,
    key: str,
    values: dict[str, object],
    existing: Mapping[str, _Upserted],
    stats: ImportStats,
    now: dt.datetime,
) -> None:
    """Insert the row, or update it only where ``values`` differ (so re-imports change nothing)."""
    row = existing.get(key)
    if row is None:
        session.add(model(**{key_name: key}, created_at=now, updated_at=now, **values))
        stats.inserted += 1
    elif _apply(row, values):
        row.updated_at = now
        stats.updated += 1
    else:
        stats.unchanged += 1


def import_institutions(session: Session, institutions: Iterable[Institution]) -> ImportStats:
    """Insert new institutions and update changed ones (capacity is not here: see declarations),
    then link the filed partners that were waiting for them (``link_filed_partners``)."""
    items = list(institutions)
    _duplicates([i.institution_id for i in items], "医療機関")
    rows = [(i.institution_id, _place_values(i, offers=int(i.offers))) for i in items]
    stats = _upsert_all(session, InstitutionRow, InstitutionRow.institution_id, rows)
    stats.linked = link_filed_partners(session, [i.institution_id for i in items])
    return stats


def _shown_name(filed_name: str, filed_id: str | None, institution: InstitutionRow | None) -> str:
    """The name a filed partner is stored under: as filed; one named by id only is shown by the
    registry's name once its institution is known, else by the id (nothing of the file lost)."""
    if filed_name:
        return filed_name
    return institution.name if institution is not None else (filed_id or "")


def link_filed_partners(session: Session, institution_ids: Iterable[str]) -> int:
    """Link the filed partners stored by name only (their institution was not in the store when
    the filing was imported) whose filed id is one of ``institution_ids``, now in the store:
    they become what ``import_filings`` stores when the institution comes first, so the order of
    the imports changes nothing. Every import of institutions calls it (``import_institutions``).
    Returns how many partners were linked."""
    waiting: list[FilingPartnerRow] = []
    for chunk in _chunks(sorted(set(institution_ids))):
        waiting.extend(
            session.scalars(
                select(FilingPartnerRow).where(
                    FilingPartnerRow.institution_id.is_(None),
                    FilingPartnerRow.filed_institution_id.in_(chunk),
                )
            )
        )
    filed = [r.filed_institution_id for r in waiting if r.filed_institution_id]
    insts = _existing(session, InstitutionRow, InstitutionRow.institution_id, filed)
    linked = 0
    for row in waiting:
        iid = row.filed_institution_id
        if iid not in insts:  # not in the store after all
            continue
        if row.partner_name == iid:  # named by id only: shown by the registry's name
            row.partner_name = _shown_name("", iid, insts[iid])
        row.institution_id = iid
        linked += 1
    session.flush()
    return linked


_PartnerTuple = tuple[str, str | None, str | None, int, bool | None]


def _partner_tuple(p: FilingPartnerRow) -> _PartnerTuple:
    return (
        p.partner_name,
        p.institution_id,
        p.filed_institution_id,
        int(p.covers),
        p.infection_agreement,
    )


def import_filings(session: Session, filings: Iterable[Filing]) -> ImportStats:
    """Store filings by (facility, filing year); the latest year is the facility's current one.

    A filing for a facility that is not in the store is an error (nothing is written). A partner
    whose ``institution_id`` is not in the store is kept by name, with a warning, and its id as
    filed: importing that institution later links it (``link_filed_partners``).
    """
    items = list(filings)
    keys = [(f.facility_id, f.filing_year) for f in items]
    if len(set(keys)) != len(keys):
        dup = sorted({k for k in keys if keys.count(k) > 1})[:5]
        raise InputError(f"同じ施設・年度の届出が重複しています: {dup}")
    stats = ImportStats()
    fac_ids = sorted({f.facility_id for f in items})
    _require_known(
        session, FacilityRow, FacilityRow.facility_id, fac_ids, "届出の施設が施設一覧にありません"
    )
    inst_ids = sorted({p.institution_id for f in items for p in f.partners if p.institution_id})
    insts = _existing(session, InstitutionRow, InstitutionRow.institution_id, inst_ids)
    rows: dict[str, list[FilingRow]] = {}
    for chunk in _chunks(fac_ids):
        for row in session.scalars(
            select(FilingRow)
            .where(FilingRow.facility_id.in_(chunk))
            .options(selectinload(FilingRow.partners))
        ):
            rows.setdefault(row.facility_id, []).append(row)
    now = utcnow()
    for f in items:
        partners = []
        for k, p in enumerate(f.partners):
            filed = p.institution_id or None
            iid = filed
            if iid and iid not in insts:
                named = f" ({p.partner_name})" if p.partner_name else ""
                stats.warnings.append(
                    f"施設 {f.facility_id} の届出の医療機関 {iid}{named} は医療機関一覧にないため"
                    "名称のみ保存します (この医療機関を後で取り込むと結び付けます)"
                )
                iid = None
            partners.append(
                FilingPartnerRow(
                    position=k,
                    partner_name=_shown_name(p.partner_name, filed, insts.get(iid or "")),
                    institution_id=iid,
                    filed_institution_id=filed,
                    covers=int(p.covers),
                    infection_agreement=p.infection_agreement,
                )
            )
        has = rows.setdefault(f.facility_id, [])
        same_year = next((r for r in has if r.filing_year == f.filing_year), None)
        if same_year is not None:
            changed = (
                same_year.has_partner != f.has_partner
                or same_year.covered != f.covered
                or [_partner_tuple(p) for p in same_year.partners]
                != [_partner_tuple(p) for p in partners]
            )
            if changed:
                same_year.has_partner, same_year.covered = f.has_partner, int(f.covered)
                same_year.source, same_year.imported_at = f.source, now
                same_year.partners.clear()
                session.flush()  # delete the old partner rows before their positions are reused
                same_year.partners = partners
                stats.updated += 1
            else:
                stats.unchanged += 1
            continue
        latest = max((r.filing_year for r in has), default=None)
        if latest is not None and latest < f.filing_year:
            stats.superseded += 1
        row = FilingRow(
            facility_id=f.facility_id,
            filing_year=f.filing_year,
            has_partner=f.has_partner,
            covered=int(f.covered),
            source=f.source,
            imported_at=now,
            partners=partners,
        )
        session.add(row)
        has.append(row)
        stats.inserted += 1
    session.flush()
    return stats


def _decl_content(d: Declaration | DeclarationRow, valid_to: dt.date | None) -> tuple[object, ...]:
    return (d.capacity, d.offers, bool(d.willing), valid_to, d.infection_agreement)


def _declared_end(
    has: Sequence[DeclarationRow], valid_from: dt.date, valid_to: dt.date | None
) -> dt.date | None:
    """The end of a declaration starting on ``valid_from`` among the institution's stored
    declarations ``has``: its own ``valid_to``, but never past the day before a later one
    starts (the later declaration closed it; at most one is in force on any day)."""
    later = [r.valid_from for r in has if r.valid_from > valid_from]
    if later and (valid_to is None or valid_to >= min(later)):
        return min(later) - dt.timedelta(days=1)
    return valid_to


def import_declarations(session: Session, declarations: Iterable[Declaration]) -> ImportStats:
    """Store declarations; one that repeats the institution's current declaration changes nothing.

    A declaration starting after the open one closes it the day before (history kept). A
    declaration read again with its start date updates that declaration's content, and an
    older one keeps the end a newer declaration gave it: re-importing an old file never puts
    two declarations in force on the same day.
    """
    items = sorted(declarations, key=lambda d: (d.institution_id, d.valid_from))
    stats = ImportStats()
    ids = sorted({d.institution_id for d in items})
    _require_known(
        session,
        InstitutionRow,
        InstitutionRow.institution_id,
        ids,
        "申告の医療機関が医療機関一覧にありません",
    )
    for d in items:
        if d.capacity is not None and d.capacity < 0:
            raise InputError(f"医療機関 {d.institution_id} の受入枠が負です (値: {d.capacity})")
        if d.valid_to is not None and d.valid_to < d.valid_from:
            raise InputError(
                f"医療機関 {d.institution_id} の申告の終了日 {d.valid_to} が"
                f"開始日 {d.valid_from} より前です"
            )
    existing: dict[str, list[DeclarationRow]] = {}
    for chunk in _chunks(ids):
        for row in session.scalars(
            select(DeclarationRow).where(DeclarationRow.institution_id.in_(chunk))
        ):
            existing.setdefault(row.institution_id, []).append(row)
    now = utcnow()
    for d in items:
        has = existing.setdefault(d.institution_id, [])
        valid_to = _declared_end(has, d.valid_from, d.valid_to)
        same = next((r for r in has if r.valid_from == d.valid_from), None)
        if same is not None:
            if _decl_content(same, same.valid_to) == _decl_content(d, valid_to):
                stats.unchanged += 1
            else:
                same.capacity, same.offers, same.willing, same.valid_to = (
                    d.capacity,
                    d.offers,
                    d.willing,
                    valid_to,
                )
                same.infection_agreement = d.infection_agreement
                same.source, same.imported_at = d.source, now
                stats.updated += 1
            continue
        earlier = [r for r in has if r.valid_from < d.valid_from]
        latest = max(earlier, key=lambda r: r.valid_from, default=None)
        if (
            latest is not None
            and latest.valid_to is None
            and _decl_content(latest, None) == _decl_content(d, d.valid_to)
        ):
            stats.unchanged += 1  # the same declaration read again later (e.g. the same CSV)
            continue
        for r in earlier:
            if r.valid_to is None or r.valid_to >= d.valid_from:
                r.valid_to = d.valid_from - dt.timedelta(days=1)
                stats.superseded += 1
        row = DeclarationRow(
            institution_id=d.institution_id,
            valid_from=d.valid_from,
            valid_to=valid_to,
            willing=d.willing,
            capacity=d.capacity,
            offers=d.offers,
            infection_agreement=d.infection_agreement,
            source=d.source,
            imported_at=now,
        )
        session.add(row)
        has.append(row)
        stats.inserted += 1
    session.flush()
    return stats


def filings_from_facilities(
    facilities: Iterable[Facility], filing_year: int, source: str = ""
) -> list[Filing]:
    """The simple format's ``covered``/``has_partner``/``partner_ids`` as filings, in the row's
    ``filing_year`` when it gives one (an export does), else in ``filing_year``; a facility with
    none of them has no filing. A named partner's own ①②③ are not in the simple format: the
    filing's ``covered`` carries the union."""
    out = []
    for f in facilities:
        partners = tuple(FilingPartner("", 0, iid) for iid in f.partner_ids)
        if f.covered == 0 and f.has_partner is None and not partners:
            continue
        year = _year_of(f) or filing_year
        has = bool(f.has_partner) or f.covered != 0 or bool(partners)
        out.append(Filing(f.facility_id, year, has, partners, f.covered, source))
    return out


def _year_of(f: Facility) -> int | None:
    """The row's ``filing_year`` (a 4-digit 年度), or None when blank or not a year."""
    text = f.extra.get(FILING_YEAR_KEY, "").strip()
    return int(text) if text.isdigit() and len(text) == 4 else None


def declarations_from_institutions(
    institutions: Iterable[Institution], valid_from: dt.date, source: str = ""
) -> list[Declaration]:
    """The simple format's ``capacity`` (and ``infection_agreement``) as declarations; an
    institution with neither has no declaration (unlimited, as the core reads a blank)."""
    out = []
    for i in institutions:
        infection = flag(i.extra.get(INSTITUTION_KEY, ""))
        if i.capacity is None and not infection:
            continue
        out.append(
            Declaration(
                i.institution_id,
                valid_from,
                i.capacity,
                None,
                True,
                None,
                source,
                infection or None,
            )
        )
    return out


def fiscal_year(day: dt.date | None = None) -> int:
    """The 年度 of ``day`` (April to March): 2026-03-31 → 2025."""
    day = day or today_jp()
    return day.year if day.month >= 4 else day.year - 1


def import_simple(
    session: Session,
    facilities: Iterable[Facility],
    institutions: Iterable[Institution],
    filing_year: int | None = None,
    declared_on: dt.date | None = None,
    source: str = "simple_csv",
    progress: Callable[[str], object] | None = None,
) -> dict[str, ImportStats]:
    """Import the simple CSV format: facilities (+ filings) and institutions (+ declarations)."""
    facilities, institutions = list(facilities), list(institutions)
    year = filing_year if filing_year is not None else fiscal_year()
    day = declared_on or today_jp()
    out = {"institutions": import_institutions(session, institutions)}
    if progress:
        progress("institutions")
    out["facilities"] = import_facilities(session, facilities)
    if progress:
        progress("facilities")
    out["filings"] = import_filings(session, filings_from_facilities(facilities, year, source))
    if progress:
        progress("filings")
    out["declarations"] = import_declarations(
        session, declarations_from_institutions(institutions, day, source)
    )
    if progress:
        progress("declarations")
    return out
