"""The annual 協力医療機関 filing (届出): facility × partner rows → what each facility has covered.

Layouts differ between municipalities, so columns are found by header name with Japanese
synonyms (``COLUMNS``), in CSV (UTF-8/cp932) or Excel with title rows above the header. One row
is one (facility, partner) pair with yes/no for ①②③; a row without a partner and with every
requirement "no" says the facility has no partner. A facility's ``covered`` is the union over
its rows and ``has_partner`` whether any row names a partner; ``model.status_of`` turns the two
into the status. A partner absent from the institution registry is a warning: the facility's
coverage still counts, as filed.

``write_filing_template`` writes an .xlsx in exactly the layout this module reads best.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict

from .._errors import RowIssue
from ..model import (
    FACILITY_KINDS,
    PARTNER_IDS_KEY,
    Capability,
    Facility,
    Institution,
    normalize_text,
    parse_facility_kind,
)
from ..vocab import admissible_offers
from .columns import cell_reader, header_tables
from .names import normalize_address, normalize_name
from .report import ImportResult, RejectedRow

COLUMNS: dict[str, tuple[str, ...]] = {
    "facility_id": (
        "事業所番号",
        "介護保険事業所番号",
        "施設番号",
        "事業所番号(10桁)",
        "facility_id",
    ),
    "facility_name": (
        "事業所名",
        "施設名",
        "事業所名称",
        "施設名称",
        "事業所の名称",
        "facility_name",
    ),
    "facility_kind": ("施設種別", "サービス種別", "施設の種別", "サービスの種類", "種別", "kind"),
    "facility_address": ("事業所所在地", "施設所在地", "事業所の所在地"),
    "partner_name": (
        "協力医療機関名",
        "協力医療機関の名称",
        "協力医療機関名称",
        "医療機関名",
        "医療機関名称",
        "医療機関の名称",
        "partner_name",
        "institution_name",
    ),
    "partner_address": (
        "協力医療機関所在地",
        "協力医療機関の所在地",
        "医療機関所在地",
        "医療機関の所在地",
        "partner_address",
    ),
    "partner_code": ("医療機関コード", "協力医療機関コード", "医療機関番号", "institution_id"),
    "consult": ("①相談対応", "①", "相談対応", "要件①", "常時相談", "相談", "consult"),
    "care": ("②診療", "②", "診療対応", "要件②", "常時診療", "診療を行う体制", "care"),
    "admit": ("③入院受入", "③", "入院受入", "入院受け入れ", "要件③", "入院", "admit"),
    "infection": ("第二種協定指定医療機関", "第二種協定", "協定指定医療機関"),
    "confirmed_on": ("年1回の確認日", "確認日", "協議日", "確認年月日"),
    "plan": ("要件を満たさない場合の今後の計画", "今後の計画", "対応方針", "満たさない理由"),
}
REQUIRED = {
    "facility_id": "事業所番号",
    "partner_name": "協力医療機関名",
    "consult": "①相談対応",
    "care": "②診療",
    "admit": "③入院受入",
}

_YES = {
    "はい",
    "○",
    "〇",
    "◯",
    "◎",
    "有",
    "あり",
    "yes",
    "y",
    "true",
    "1",
    "✓",
    "✔",
    "☑",
    "レ",
    "満たす",
    "満たしている",
    "可",
    "対応可",
    "該当",
}
_NO = {
    "",
    "いいえ",
    "×",
    "✕",
    "✖",
    "無",
    "なし",
    "no",
    "n",
    "false",
    "0",
    "-",
    "―",
    "満たさない",
    "満たしていない",
    "不可",
    "対応不可",
    "非該当",
    "□",
}


def parse_yes_no(value: object) -> bool:
    """A filing's yes/no cell (はい/○/有/yes/1 … or いいえ/×/無/no/0/blank); ``ValueError`` else."""
    text = normalize_text(value).lower()
    if text in _YES:
        return True
    if text in _NO:
        return False
    raise ValueError(
        f"「{text}」を はい/いいえ として読めません (はい・○・有 または いいえ・×・無)"
    )


def optional_yes_no(
    get: Callable[[str], str], found: Mapping[str, str], key: str, problems: list[str]
) -> bool | None:
    """The yes/no cell ``key`` (``get``: see ``columns.cell_reader``); None when blank, and a
    problem (named by its column) when unreadable."""
    if not get(key):
        return None
    try:
        return parse_yes_no(get(key))
    except ValueError as exc:
        problems.append(f"{found[key]}: {exc}")
        return None


@dataclass(frozen=True)
class FiledPartner:
    """One partner named in a filing and what the facility says it provides."""

    name: str
    address: str = ""
    code: str = ""  # 医療機関コード or registry id, as filed
    provides: int = 0
    institution_id: str = ""  # the registry institution it was matched to, "" if none
    infection_agreement: bool | None = None


class _Grouped(TypedDict):
    """The filing rows of one facility gathered while reading (→ ``FacilityFiling``)."""

    facility_id: str
    name: str
    kind: str
    partners: list[FiledPartner]
    file: str
    rows: list[int]
    confirmed_on: str
    plan: str


@dataclass(frozen=True)
class FacilityFiling:
    """Everything one facility filed: partners, covered mask and whether it has any partner."""

    facility_id: str
    name: str
    kind: str  # code, "" if the filing does not say
    partners: tuple[FiledPartner, ...]
    covered: int
    has_partner: bool
    file: str = ""
    rows: tuple[int, ...] = ()
    confirmed_on: str = ""
    plan: str = ""


class _Registry:
    """Looks up filed partners in the institution registry by code, then name (+ address)."""

    def __init__(self, institutions: Iterable[Institution]) -> None:
        self.by_code: dict[str, Institution] = {}
        self.by_name: dict[str, list[Institution]] = {}
        for inst in institutions:
            self.by_code[inst.institution_id] = inst
            for code in inst.extra.get("medical_code", "").split("+"):
                if code:
                    self.by_code[code] = inst
            self.by_name.setdefault(normalize_name(inst.name), []).append(inst)

    def find(self, name: str, address: str, code: str) -> Institution | None:
        if code and code in self.by_code:
            return self.by_code[code]
        same = self.by_name.get(normalize_name(name), [])
        if len(same) > 1 and address:
            same = [i for i in same if normalize_address(i.address) == normalize_address(address)]
        return same[0] if len(same) == 1 else None


def clean_facility_id(value: object) -> str:
    """事業所番号 as text: Excel may have made it a number (``170100011`` or ``170100011.0``)."""
    text = normalize_text(value)
    if text.endswith(".0") and text[:-2].isdigit():
        text = text[:-2]
    return text.zfill(10) if text.isdigit() and len(text) == 9 else text


def import_filings(
    paths: str | Path | Sequence[str | Path], institutions: Iterable[Institution] | None = None
) -> ImportResult[FacilityFiling]:
    """Read filings (CSV or Excel, every sheet) into one ``FacilityFiling`` per facility.

    With ``institutions`` each partner is looked up (医療機関コード/registry id, then
    normalised name and address); partners not found give a warning, and a clinic filed as
    providing ③ loses ③ with a warning (③は病院に限る). Sheets lacking the required columns
    are reported as rejected (file-level); bad cells reject their row.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    registry = _Registry(institutions) if institutions is not None else None
    out: ImportResult[FacilityFiling] = ImportResult()
    grouped: dict[str, _Grouped] = {}
    for p in paths:
        for where, found, records, missing in header_tables(
            Path(p), COLUMNS, ("facility_id", "partner_name"), REQUIRED
        ):
            for rec in out.table_rows(where, records, missing):
                _row(rec, found, where, registry, grouped, out)
    for g in grouped.values():
        partners = tuple(g["partners"])
        covered = 0
        for partner in partners:
            covered |= partner.provides
        out.items.append(
            FacilityFiling(
                g["facility_id"],
                g["name"],
                g["kind"],
                partners,
                covered,
                bool(partners),
                g["file"],
                tuple(g["rows"]),
                g["confirmed_on"],
                g["plan"],
            )
        )
    return out


def _row(
    rec: Mapping[str, str],
    found: Mapping[str, str],
    where: str,
    registry: _Registry | None,
    grouped: dict[str, _Grouped],
    out: ImportResult[FacilityFiling],
) -> None:
    row = int(rec["__row__"])
    original = {k: str(v) for k, v in rec.items() if k != "__row__"}

    get = cell_reader(rec, found)

    problems: list[str] = []
    facility_id = clean_facility_id(get("facility_id"))
    if not facility_id:
        problems.append("事業所番号が空です")
    kind = ""
    if get("facility_kind"):
        try:
            kind = parse_facility_kind(get("facility_kind"))
        except ValueError as exc:
            problems.append(str(exc))
    provides = 0
    for key, cap in (
        ("consult", Capability.CONSULT),
        ("care", Capability.CARE),
        ("admit", Capability.ADMIT),
    ):
        try:
            if parse_yes_no(get(key)):
                provides |= cap
        except ValueError as exc:
            problems.append(f"{found[key]}: {exc}")
    infection = optional_yes_no(get, found, "infection", problems)
    if problems:
        out.rejected.append(RejectedRow(where, row, " / ".join(problems), original))
        return
    g = grouped.setdefault(
        facility_id,
        {
            "facility_id": facility_id,
            "name": get("facility_name"),
            "kind": kind,
            "partners": [],
            "file": where,
            "rows": [],
            "confirmed_on": "",
            "plan": "",
        },
    )
    if kind and g["kind"] and kind != g["kind"]:
        out.warnings.append(
            RowIssue(
                where,
                row,
                found.get("facility_kind"),
                get("facility_kind"),
                "同じ事業所番号で施設種別が異なります"
                f"(先の行: {FACILITY_KINDS[g['kind']].label_ja})",
                "warning",
            )
        )
    g["kind"] = g["kind"] or kind
    g["rows"].append(row)
    g["confirmed_on"] = g["confirmed_on"] or get("confirmed_on").removesuffix(" 00:00:00")
    g["plan"] = g["plan"] or get("plan")
    name = get("partner_name")
    if not name:
        if provides:
            out.warnings.append(
                RowIssue(
                    where,
                    row,
                    found.get("partner_name"),
                    None,
                    "協力医療機関名が空ですが要件に「はい」があります: "
                    "名称不明の協力医療機関として数えます",
                    "warning",
                )
            )
            g["partners"].append(
                FiledPartner("(名称不明)", get("partner_address"), get("partner_code"), provides)
            )
        return
    institution_id = ""
    if registry is not None:
        inst = registry.find(name, get("partner_address"), get("partner_code"))
        if inst is None:
            out.warnings.append(
                RowIssue(
                    where,
                    row,
                    found.get("partner_name"),
                    name,
                    "届出の協力医療機関が医療機関の一覧にありません(要件は届出どおり数えます)",
                    "warning",
                )
            )
        else:
            institution_id = inst.institution_id
            admissible = admissible_offers(inst.kind, provides)
            if admissible != provides:  # a clinic filed as providing ③
                out.warnings.append(
                    RowIssue(
                        where,
                        row,
                        found.get("admit"),
                        name,
                        "診療所は③入院受入を提供できません(③は病院に限る): ③を数えません",
                        "warning",
                    )
                )
                provides = admissible
    g["partners"].append(
        FiledPartner(
            name, get("partner_address"), get("partner_code"), provides, institution_id, infection
        )
    )


def apply_filings(
    facilities: Iterable[Facility], filings: Iterable[FacilityFiling]
) -> ImportResult[Facility]:
    """Facilities with ``covered``/``has_partner`` from their filing; the rest stay ``unknown``.

    Every facility is returned (input order). A facility's filing replaces whatever it had; the
    registry ids of matched partners go to ``extra["partner_ids"]``. Filings for facilities not
    in the list are reported as ``unmatched``; a kind that disagrees with the registry is a warning.
    """
    by_id = {f.facility_id: f for f in filings}
    out: ImportResult[Facility] = ImportResult(rows_read=len(by_id))
    used: set[str] = set()
    for fac in facilities:
        filing = by_id.get(fac.facility_id) or by_id.get(fac.facility_id.split("-")[0])
        if filing is None:
            out.items.append(dataclasses.replace(fac, covered=0, has_partner=None))
            continue
        used.add(filing.facility_id)
        if filing.kind and filing.kind != fac.kind:
            out.warnings.append(
                RowIssue(
                    filing.file,
                    filing.rows[0] if filing.rows else None,
                    "施設種別",
                    FACILITY_KINDS[filing.kind].label_ja,
                    f"届出の施設種別が施設一覧({FACILITY_KINDS[fac.kind].label_ja})と"
                    "異なります: 施設一覧を使います",
                    "warning",
                )
            )
        extra = dict(fac.extra)
        ids = [p.institution_id for p in filing.partners if p.institution_id]
        if ids:
            extra[PARTNER_IDS_KEY] = "+".join(ids)
        out.items.append(
            dataclasses.replace(
                fac, covered=filing.covered, has_partner=filing.has_partner, extra=extra
            )
        )
    out.joined_rows = len(used)
    for filing in by_id.values():
        if filing.facility_id not in used:
            out.rejected.append(
                RejectedRow(
                    filing.file,
                    filing.rows[0] if filing.rows else None,
                    "届出の事業所番号が施設一覧にありません",
                    {"事業所番号": filing.facility_id, "事業所名": filing.name},
                    "unmatched",
                )
            )
    return out


TEMPLATE_HEADERS = (
    "事業所番号",
    "事業所名",
    "施設種別",
    "協力医療機関名",
    "協力医療機関所在地",
    "医療機関コード",
    "①相談対応",
    "②診療",
    "③入院受入",
    "第二種協定指定医療機関",
    "年1回の確認日",
    "要件を満たさない場合の今後の計画",
)
_INSTRUCTIONS = (
    "協力医療機関の届出(1行 = 1施設 × 1協力医療機関)",
    "・協力医療機関が複数ある施設は、協力医療機関ごとに1行ずつ記入してください(事業所番号は同じ)。",
    "・協力医療機関を定めていない施設は、協力医療機関名を空欄にし、①②③を「いいえ」にした行を1行記入してください。",
    "・①相談対応: 医師又は看護職員が相談対応を行う体制を常時確保している",
    "・②診療: 診療を行う体制を常時確保している",
    "・③入院受入: 入院を要すると認められた入所者の入院を原則として受け入れる体制を"
    "確保している(病院に限る)",
    "・①②③と第二種協定指定医療機関は、一覧から「はい」「いいえ」を選んでください。",
    "・医療機関コードは分かる場合のみ(10桁)。",
)


def write_filing_template(path: str | Path, rows: int = 500) -> Path:
    """Write an empty filing workbook: Japanese headers, dropdowns for kind and はい/いいえ.

    ``import_filings`` reads it back unchanged; the second sheet explains how to fill it in.
    """
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.worksheet.datavalidation import DataValidation

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    wb = Workbook()
    ws = wb.active
    ws.title = "届出"
    ws.append(list(TEMPLATE_HEADERS))
    fill = PatternFill("solid", fgColor="DDEBF7")
    for cell in ws[1]:
        cell.font = Font(bold=True)
        cell.fill = fill
        cell.alignment = Alignment(wrap_text=True, vertical="center")
    widths = (14, 28, 26, 28, 34, 14, 11, 11, 11, 14, 14, 40)
    for col, width in zip("ABCDEFGHIJKL", widths, strict=False):
        ws.column_dimensions[col].width = width
    ws.freeze_panes = "A2"
    last = rows + 1
    kinds = ",".join(k.label_ja for k in FACILITY_KINDS.values())
    rules: tuple[tuple[str, str, str, dict[str, str]], ...] = (
        (
            f"C2:C{last}",
            "施設種別",
            "一覧から選んでください",
            {"type": "list", "formula1": f'"{kinds}"'},
        ),
        (
            f"G2:J{last}",
            "はい/いいえ",
            "「はい」か「いいえ」を選んでください",
            {"type": "list", "formula1": '"はい,いいえ"'},
        ),
        (
            f"K2:K{last}",
            "確認日",
            "2024年4月1日以降の日付を入力してください",
            {"type": "date", "operator": "greaterThan", "formula1": "DATE(2024,4,1)"},
        ),
        (
            f"A2:A{last}",
            "事業所番号",
            "事業所番号は10桁です",
            {"type": "textLength", "operator": "equal", "formula1": "10"},
        ),
    )
    for cells, title, error, rule in rules:
        dv = DataValidation(
            **rule, allow_blank=True, errorTitle=title, error=error, showErrorMessage=True
        )
        ws.add_data_validation(dv)
        dv.add(cells)
    for r in range(2, last + 1):
        ws.cell(r, 1).number_format = "@"  # keep leading zeros of 事業所番号
        ws.cell(r, 6).number_format = "@"
        ws.cell(r, 11).number_format = "yyyy/mm/dd"
    help_ws = wb.create_sheet("記入方法")
    for line in _INSTRUCTIONS:
        help_ws.append([line])
    help_ws.column_dimensions["A"].width = 110
    wb.save(path)
    return path
