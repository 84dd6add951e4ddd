"""Institutions' own declarations (willing? how many new facilities? which of ①②③?) → institutions.

A declaration is the hospital's word and overrides what registry flags implied: declared offers
replace inferred ones, an institution that is not willing takes no new partner (capacity 0; what
it offers is still shown), and a declared capacity bounds its new partnerships
(``declared_terms``, the store's rule too). Declarations name the institution by registry
id or 医療機関コード, else by name (+ address); what matches no institution is reported.
Offers are given either as one column (``consult+care``, ``①②`` …) or as three yes/no columns.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .._errors import RowIssue
from ..model import Capability, Institution, parse_capabilities
from ..vocab import admissible_offers
from .columns import cell_reader, header_tables
from .filings import optional_yes_no, parse_yes_no
from .names import normalize_address, normalize_name
from .report import ImportResult, RejectedRow

COLUMNS: dict[str, tuple[str, ...]] = {
    "institution_id": ("institution_id", "ID", "医療機関ID"),
    "medical_code": ("医療機関コード", "医療機関番号"),
    "name": ("医療機関名", "医療機関名称", "正式名称", "name"),
    "address": ("所在地", "医療機関所在地", "住所", "address"),
    "willing": ("協力医療機関となる意向", "受入意向", "意向", "協力の意向", "willing"),
    "capacity": (
        "新たに受け入れ可能な施設数",
        "受入可能施設数",
        "受入可能数",
        "受け入れ可能数",
        "capacity",
    ),
    "offers": ("対応可能な要件", "提供できる要件", "offers"),
    "consult": ("①相談対応", "①", "相談対応", "要件①", "consult"),
    "care": ("②診療", "②", "診療対応", "要件②", "care"),
    "admit": ("③入院受入", "③", "入院受入", "入院受け入れ", "要件③", "admit"),
    "infection": (
        "第二種協定指定医療機関",
        "第二種協定",
        "協定指定医療機関",
        "infection_agreement",
    ),
}


@dataclass(frozen=True)
class Declaration:
    """What one institution declared; ``offers``/``capacity`` ``None`` when not stated."""

    name: str
    willing: bool
    offers: int | None = None
    capacity: int | None = None
    institution_id: str = ""
    medical_code: str = ""
    address: str = ""
    file: str = ""
    row: int | None = None
    infection_agreement: bool | None = None  # 第二種協定指定医療機関; None: not stated


def _capacity(text: str) -> int | None:
    if text == "":
        return None
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"受入可能数「{text}」が数値ではありません") from None
    if value < 0 or value != int(value):
        raise ValueError(f"受入可能数「{text}」は0以上の整数で指定してください")
    return int(value)


def import_declarations(paths: str | Path | Sequence[str | Path]) -> ImportResult[Declaration]:
    """Read declaration files (CSV or Excel; header found by name, title rows allowed)."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    out: ImportResult[Declaration] = ImportResult()
    for p in paths:
        path = Path(p)
        for where, found, records, missing in header_tables(
            path,
            COLUMNS,
            ("name", "willing"),
            {"name": "医療機関名", "willing": "協力医療機関となる意向"},
        ):
            for rec in out.table_rows(where, records, missing):
                _row(rec, found, where, out)
    return out


def _row(
    rec: dict[str, str], found: dict[str, str], where: str, out: ImportResult[Declaration]
) -> None:
    row = int(rec["__row__"])
    original = {k: str(v) for k, v in rec.items() if k != "__row__"}

    get = cell_reader(rec, found)

    problems: list[str] = []
    willing = False
    try:
        willing = parse_yes_no(get("willing"))
    except ValueError as exc:
        problems.append(f"{found['willing']}: {exc}")
    capacity = None
    try:
        capacity = _capacity(get("capacity"))
    except ValueError as exc:
        problems.append(str(exc))
    offers: int | None = None
    try:
        if "offers" in found and get("offers"):
            offers = parse_capabilities(get("offers"))
        elif any(k in found for k in ("consult", "care", "admit")):
            offers = 0
            for key, cap in (
                ("consult", Capability.CONSULT),
                ("care", Capability.CARE),
                ("admit", Capability.ADMIT),
            ):
                if key in found and parse_yes_no(get(key)):
                    offers |= cap
    except ValueError as exc:
        problems.append(str(exc))
    infection = optional_yes_no(get, found, "infection", problems)
    if not get("name") and not get("institution_id") and not get("medical_code"):
        problems.append("医療機関名・ID・医療機関コードのいずれも空です")
    if problems:
        out.rejected.append(RejectedRow(where, row, " / ".join(problems), original))
        return
    out.items.append(
        Declaration(
            get("name"),
            willing,
            offers,
            capacity,
            get("institution_id"),
            get("medical_code"),
            get("address"),
            where,
            row,
            infection,
        )
    )


class _Index:
    """Institutions by id, 医療機関コード and normalised name, built once per apply."""

    def __init__(self, insts: Sequence[Institution]) -> None:
        self.insts = insts
        self.by_id: dict[str, list[int]] = {}
        self.by_code: dict[str, list[int]] = {}
        self.by_name: dict[str, list[int]] = {}
        for i, inst in enumerate(insts):
            self.by_id.setdefault(inst.institution_id, []).append(i)
            for code in inst.extra.get("medical_code", "").split("+"):
                if code:
                    self.by_code.setdefault(code, []).append(i)
            self.by_name.setdefault(normalize_name(inst.name), []).append(i)

    def find(self, d: Declaration) -> list[int]:
        if d.institution_id and d.institution_id in self.by_id:
            return self.by_id[d.institution_id]
        if d.medical_code and d.medical_code in self.by_code:
            return self.by_code[d.medical_code]
        hit = self.by_name.get(normalize_name(d.name), []) if d.name else []
        if len(hit) > 1 and d.address:
            hit = [
                i
                for i in hit
                if normalize_address(self.insts[i].address) == normalize_address(d.address)
            ]
        return hit


def declared_terms(
    kind: str,
    offers: int,
    willing: bool,
    declared_offers: int | None,
    declared_capacity: int | None,
) -> tuple[int, int | None]:
    """What an institution offers and how many new partner facilities it takes under its
    declaration, as (offers, capacity): the one rule of the file path (``apply_declarations``,
    read by ``kyoryoku match``) and the store (``store.state.terms_in_force``, read by the
    planner and every page).

    Declared offers replace the registry's ``offers`` (kept when the declaration states none),
    clinics never admitting (``vocab.admissible_offers``). The capacity is the declaration's
    alone (``None``: not declared, unlimited; an earlier capacity never fills in). An
    institution that is not willing keeps its offers — what it can do, shown as such on every
    page — and takes no new partner: capacity 0, so its pairs stay candidates that capacity
    rules out (reason ``capacity``, 残り 0), never "no candidate" or "offers unknown".
    """
    shown = admissible_offers(kind, offers if declared_offers is None else declared_offers)
    return shown, (declared_capacity if willing else 0)


def apply_declarations(
    institutions: Iterable[Institution], declarations: Iterable[Declaration]
) -> ImportResult[Institution]:
    """Institutions with their declarations applied (every institution returned, input order):
    offers and capacity as ``declared_terms`` says, as the store reads the same declaration
    (not willing → capacity 0, offers kept; capacity left blank → not declared). A
    clinic declaring ③ loses ③ (warning). ``extra["declared"]`` is ``"true"`` for institutions
    with a declaration. Declarations matching no or several institutions are ``unmatched``; a
    second declaration for the same institution replaces the first, with a warning.
    """
    insts = list(institutions)
    chosen, out = match_declarations(insts, declarations)
    for i, inst in enumerate(insts):
        d = chosen.get(i)
        if d is None:
            out.items.append(inst)
            continue
        offers, capacity = declared_terms(inst.kind, inst.offers, d.willing, d.offers, d.capacity)
        if d.offers is not None and d.offers & ~offers:  # a clinic declaring ③: dropped
            out.warnings.append(clinic_admit_ignored(d))
        extra = {**inst.extra, "declared": "true"}
        out.items.append(
            dataclasses.replace(inst, offers=int(offers), capacity=capacity, extra=extra)
        )
    return out


def clinic_admit_ignored(d: Declaration) -> RowIssue:
    """The warning for a declaration of ③ by a clinic (③ is then ignored)."""
    return RowIssue(
        d.file,
        d.row,
        None,
        d.name,
        "診療所は③入院受入を提供できません(③は病院に限る): ③を無視します",
        "warning",
    )


def match_declarations(
    institutions: Sequence[Institution], declarations: Iterable[Declaration]
) -> tuple[dict[int, Declaration], ImportResult[Institution]]:
    """Which institution (by position) each declaration names.

    The result carries no items: declarations matching no or several institutions are its
    ``unmatched`` rows, and a second declaration for the same institution replaces the first
    with a warning.
    """
    insts = list(institutions)
    out: ImportResult[Institution] = ImportResult()
    chosen: dict[int, Declaration] = {}
    index = _Index(insts)
    for d in declarations:
        out.rows_read += 1
        values = {"医療機関名": d.name, "ID": d.institution_id, "医療機関コード": d.medical_code}
        hit = index.find(d)
        if not hit:
            out.rejected.append(
                RejectedRow(
                    d.file, d.row, "申出の医療機関が医療機関の一覧にありません", values, "unmatched"
                )
            )
            continue
        if len(hit) > 1:
            ids = ", ".join(insts[i].institution_id for i in hit[:5])
            out.rejected.append(
                RejectedRow(
                    d.file, d.row, f"一致する医療機関が複数あります ({ids})", values, "unmatched"
                )
            )
            continue
        if hit[0] in chosen:
            prev = chosen[hit[0]]
            out.warnings.append(
                RowIssue(
                    d.file,
                    d.row,
                    None,
                    d.name,
                    f"同じ医療機関の申出が複数あります({prev.row}行目): 後の行を使います",
                    "warning",
                )
            )
            out.excluded_rows += 1  # the earlier declaration gives way
        chosen[hit[0]] = d
    out.joined_rows = len(chosen)
    return chosen, out
