"""地方厚生局「届出受理医療機関名簿」(施設基準 flags) → flags per institution, joined to ナビイ.

The 名簿 has one row per institution × accepted standard, a title block above the header
(found by name, not position) and one sheet per prefecture. The flags that matter here:

| flag | how it is recognised | implied offers (MODEL.md) |
|---|---|---|
| ``support_hospital`` 在宅療養支援病院 | 受理記号 支援病１–３ | consult + care + admit |
| ``support_clinic`` 在宅療養支援診療所 | 受理記号 支援診１–３ | consult + care |
| ``backup_hospital`` 在宅療養後方支援病院 | 受理届出名称 | admit |
| ``community_care`` 地域包括ケア病棟/入院医療管理料 | 受理届出名称 | admit |
| ``partner_admission`` 協力対象施設入所者入院加算 | 受理届出名称 | (already a 協力医療機関) |
| ``partner_visit`` 介護保険施設等連携往診加算 | 受理届出名称 | (already a 協力医療機関) |

There is no id shared with ナビイ, so ``apply_flags`` joins on normalised name + address
(``names.normalize_name``/``normalize_address``), then on address with one name ending the
other, then on name within the same municipality; what does not join uniquely is reported.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict

from .._errors import InputError, RowIssue
from ..geocode import municipality_in_address
from ..model import Capability, Institution, normalize_text
from ..reference import prefectures
from ..vocab import admissible_offers
from .columns import (
    cell_reader,
    duplicated_mapped,
    is_blank,
    locate_header,
    match_columns,
    missing_columns,
    read_sheets,
    sheet_warning,
    table_below,
)
from .names import normalize_address, normalize_name
from .report import ImportResult, RejectedRow

FLAG_LABELS_JA = {
    "support_hospital": "在宅療養支援病院",
    "support_clinic": "在宅療養支援診療所",
    "backup_hospital": "在宅療養後方支援病院",
    "community_care": "地域包括ケア病棟",
    "partner_admission": "協力対象施設入所者入院加算",
    "partner_visit": "介護保険施設等連携往診加算",
}
FLAG_OFFERS = {
    "support_hospital": int(Capability.CONSULT | Capability.CARE | Capability.ADMIT),
    "support_clinic": int(Capability.CONSULT | Capability.CARE),
    "backup_hospital": int(Capability.ADMIT),
    "community_care": int(Capability.ADMIT),
}
COLUMNS: dict[str, tuple[str, ...]] = {
    "prefecture": ("都道府県名",),
    "category": ("区分",),
    "number": ("医療機関番号",),
    "name": ("医療機関名称", "医療機関名"),
    "postal": ("医療機関所在地(郵便番号)", "郵便番号"),
    "address": ("医療機関所在地(住所)", "医療機関所在地", "住所"),
    "beds": ("病床数",),
    "standard": ("受理届出名称",),
    "symbol": ("受理記号",),
    "since": ("算定開始年月日",),
}
REQUIRED = {"name": "医療機関名称", "address": "医療機関所在地(住所)", "standard": "受理届出名称"}


def flags_of(standard: str, symbol: str) -> set[str]:
    """The flags one 名簿 row grants, from its 受理届出名称 and 受理記号."""
    standard, symbol = normalize_text(standard), normalize_text(symbol)
    found: set[str] = set()
    if symbol.startswith("支援病") or "在宅療養支援病院" in standard:
        found.add("support_hospital")
    if symbol.startswith("支援診") or "在宅療養支援診療所" in standard:
        found.add("support_clinic")
    if "在宅療養後方支援病院" in standard:
        found.add("backup_hospital")
    if "地域包括ケア" in standard and ("入院料" in standard or "管理料" in standard):
        found.add("community_care")
    if "協力対象施設入所者入院加算" in standard:
        found.add("partner_admission")
    if "介護保険施設等連携往診加算" in standard:
        found.add("partner_visit")
    return found


class _Merged(TypedDict):
    """The 名簿 rows of one institution gathered while reading (→ ``FlaggedInstitution``)."""

    name: str
    address: str
    flags: set[str]
    code: str
    file: str
    rows: list[int]


@dataclass(frozen=True)
class FlaggedInstitution:
    """One institution of the 名簿 with every relevant flag it holds."""

    name: str
    address: str
    flags: frozenset[str]
    medical_code: str = ""  # 10 digits: prefecture + "1" (医科) + 医療機関番号; "" if unknown
    file: str = ""
    rows: tuple[int, ...] = ()

    @property
    def offers(self) -> int:
        """Offers the flags imply (``admit`` only matters for hospitals; see ``apply_flags``)."""
        mask = 0
        for f in self.flags:
            mask |= FLAG_OFFERS.get(f, 0)
        return mask

    @property
    def is_partner_already(self) -> bool:
        return bool(self.flags & {"partner_admission", "partner_visit"})


def _medical_code(prefecture: str, number: str) -> str:
    digits = "".join(ch for ch in normalize_text(number) if ch.isdigit())
    if not digits or prefecture not in prefectures():
        return ""
    return f"{prefectures().index(prefecture) + 1:02d}1{digits.zfill(7)[-7:]}"


def import_kouseikyoku(
    paths: str | Path | Sequence[str | Path],
) -> ImportResult[FlaggedInstitution]:
    """Read 届出受理医療機関名簿 files (Excel, every sheet; or CSV) into flagged institutions.

    Rows of other standards are counted as excluded (one line per sheet in the report: a 名簿 has
    tens of thousands of them); sheets without the header (cover pages) are noted; a file where no
    sheet has the header, or whose header lacks a required column, is an ``InputError``.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    out: ImportResult[FlaggedInstitution] = ImportResult()
    merged: dict[tuple[str, ...], _Merged] = {}
    for p in paths:
        path = Path(p)
        sheets, skipped = read_sheets(path)
        out.skipped_files.extend(skipped)
        tables = data_rows = 0
        for sheet, grid in sheets.items():
            where = f"{path.name}[{sheet}]" if sheet else path.name
            at = locate_header(grid, ("医療機関名称", "受理届出名称"))
            if at is None:
                out.skipped_files.append(
                    sheet_warning(
                        path,
                        sheet,
                        f"{where}: 見出し行(医療機関名称・受理届出名称)が見つからないため"
                        "このシートを読みません",
                    )
                )
                continue
            tables += 1
            headers, records, _ = table_below(grid, at)
            found = match_columns(headers, COLUMNS)
            missing = missing_columns(where, headers, found, REQUIRED, header_row=at + 1)
            missing += duplicated_mapped(where, headers, found, at + 1)
            if missing:
                raise InputError(missing)
            data_rows += sum(not is_blank(r) for r in records)
            other = 0
            for rec in out.table_rows(where, records, missing):
                row = int(rec["__row__"])

                get = cell_reader(rec, found)

                flags = flags_of(get("standard"), get("symbol"))
                if not flags:
                    other += 1
                    continue
                original = {k: str(v) for k, v in rec.items() if k != "__row__"}
                name, address = get("name"), get("address")
                if not name or not address:
                    out.rejected.append(
                        RejectedRow(where, row, "医療機関名称または所在地が空です", original)
                    )
                    continue
                code = _medical_code(get("prefecture"), get("number"))
                key = (
                    ("code", code)
                    if code
                    else ("name", normalize_name(name), normalize_address(address))
                )
                entry = merged.setdefault(
                    key,
                    {
                        "name": name,
                        "address": address,
                        "flags": set(),
                        "code": code,
                        "file": where,
                        "rows": [],
                    },
                )
                entry["flags"] |= flags
                entry["rows"].append(row)
            out.excluded_rows += other
            if other:
                out.skipped_files.append(
                    sheet_warning(
                        path,
                        sheet,
                        f"{where}: 在宅療養支援・後方支援・地域包括ケア・協力医療機関の加算以外の"
                        f"施設基準の行 {other} 行は対象外です",
                    )
                )
        if tables and not data_rows:
            raise InputError(
                RowIssue(path.name, None, None, None, "見出し行だけでデータ行がありません")
            )
        if tables == 0:
            raise InputError(
                RowIssue(
                    path.name,
                    None,
                    None,
                    None,
                    "届出受理医療機関名簿の見出し行(医療機関名称・受理届出名称)が"
                    "どのシートの先頭 30 行にも見つかりません",
                )
            )
    for entry in merged.values():
        out.items.append(
            FlaggedInstitution(
                entry["name"],
                entry["address"],
                frozenset(entry["flags"]),
                entry["code"],
                entry["file"],
                tuple(entry["rows"]),
            )
        )
    return out


def _candidates(
    flagged: FlaggedInstitution,
    institutions: Sequence[Institution],
    by_key: dict[tuple[str, str], list[int]],
    by_address: dict[str, list[int]],
    by_name: dict[str, list[int]],
) -> tuple[list[int], str]:
    name, address = normalize_name(flagged.name), normalize_address(flagged.address)
    exact = by_key.get((name, address), [])
    if exact:
        return exact, "name+address"
    same_address = [
        i
        for i in by_address.get(address, [])
        if (n := normalize_name(institutions[i].name)).endswith(name) or name.endswith(n)
    ]
    if same_address:
        return same_address, "address+name_suffix"
    muni = municipality_in_address(flagged.address)
    if muni is not None:
        same_name = [
            i for i in by_name.get(name, []) if institutions[i].municipality_code == muni.code
        ]
        if same_name:
            return same_name, "name+municipality"
    return [], ""


def apply_flags(
    institutions: Iterable[Institution], flagged: Iterable[FlaggedInstitution]
) -> ImportResult[Institution]:
    """Institutions with offers inferred from the flags joined onto them.

    Every institution is returned (``items``, input order); a joined one gets ``offers |=`` the
    implied offers (``admit`` only for hospitals), and in ``extra``: ``medical_code``,
    ``flags`` (codes joined by ``+``), ``flag_join`` (how it was joined) and
    ``already_partner`` when a 協力医療機関 add-on is filed. Flagged institutions that join none
    or several are listed in ``rejected`` with category ``unmatched``.
    """
    insts = list(institutions)
    by_key: dict[tuple[str, str], list[int]] = {}
    by_address: dict[str, list[int]] = {}
    by_name: dict[str, list[int]] = {}
    for i, inst in enumerate(insts):
        n, a = normalize_name(inst.name), normalize_address(inst.address)
        by_key.setdefault((n, a), []).append(i)
        by_address.setdefault(a, []).append(i)
        by_name.setdefault(n, []).append(i)
    out: ImportResult[Institution] = ImportResult()
    joined: dict[int, list[tuple[FlaggedInstitution, str]]] = {}
    for f in flagged:
        out.rows_read += 1
        found, how = _candidates(f, insts, by_key, by_address, by_name)
        values = {
            "医療機関名称": f.name,
            "医療機関所在地": f.address,
            "医療機関コード": f.medical_code,
            "施設基準": "・".join(FLAG_LABELS_JA[x] for x in sorted(f.flags)),
        }
        row = f.rows[0] if f.rows else None
        if not found:
            out.rejected.append(
                RejectedRow(
                    f.file,
                    row,
                    "ナビイの医療機関に名称・所在地が一致するものがありません",
                    values,
                    "unmatched",
                )
            )
        elif len(found) > 1:
            ids = ", ".join(insts[i].institution_id for i in found[:5])
            out.rejected.append(
                RejectedRow(
                    f.file, row, f"一致する医療機関が複数あります ({ids})", values, "unmatched"
                )
            )
        else:
            joined.setdefault(found[0], []).append((f, how))
    out.joined_rows = sum(len(v) for v in joined.values())
    for i, inst in enumerate(insts):
        if i not in joined:
            out.items.append(inst)
            continue
        flags = set().union(*(f.flags for f, _ in joined[i]))
        offers = 0
        for f, _ in joined[i]:
            offers |= f.offers
        admissible = admissible_offers(inst.kind, offers)
        if admissible != offers:  # a clinic with a hospital's 施設基準
            out.warnings.append(
                RowIssue(
                    joined[i][0][0].file,
                    joined[i][0][0].rows[0] if joined[i][0][0].rows else None,
                    None,
                    inst.name,
                    f"診療所({inst.institution_id})に病院の施設基準があります: "
                    "③入院受入は無視します",
                    "warning",
                )
            )
            offers = admissible
        extra = dict(inst.extra)
        codes = sorted({f.medical_code for f, _ in joined[i] if f.medical_code})
        if codes:
            extra["medical_code"] = "+".join(codes)
        extra["flags"] = "+".join(sorted(flags))
        extra["flag_join"] = joined[i][0][1]
        if any(f.is_partner_already for f, _ in joined[i]):
            extra["already_partner"] = "true"
        out.items.append(dataclasses.replace(inst, offers=int(inst.offers | offers), extra=extra))
    return out
