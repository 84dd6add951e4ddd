"""介護サービス情報公表システム open data (one CSV per service type) → canonical facilities.

Each target row is mapped onto the facility columns of MODEL.md and validated by
``validate.validate_facilities``. Identity: ``facility_id`` is the 10-character 事業所番号; only
when the same 事業所番号 is imported under two target service codes do those rows get
``事業所番号-サービスコード`` (the registry's own key is the pair), with a warning. The service
code is kept in ``extra["service_code"]``.

Kinds (FORMATS.md §1): 510/540 → tokuyo, 520 → roken, 550 → iryoin, 320 → gh, 331/334/335/337/
361/364 → tokutei. 特定施設 designations of a 軽費老人ホーム (332/336/362) count as ``keihi``, and
of a 養護老人ホーム (333/363, or a name that says 養護老人ホーム but not 特別養護) as ``yogo``, as
the 令和7年12月25日 table asks. 特定施設 service names are recognised by their parts whatever the
brackets; a name still unknown gives way to the file's own code (``jigyosho_334.csv``).
551 (短期入所療養介護) and every other service code are reported as skipped rows.

The header is searched in the top rows of every sheet and ZIP member; 住所 is joined to
都道府県名 and 市区町村名 only where it does not already begin with them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from .._errors import RowIssue
from ..geocode import municipality_in_address, normalize_municipality_code
from ..model import Facility, normalize_text
from ..validate import validate_facilities
from .columns import Table, cell_reader
from .report import (
    ImportResult,
    RejectedRow,
    SourceRow,
    locate_row,
    read_registry,
    validate_into,
)

SERVICE_KINDS: dict[str, str] = {
    "510": "tokuyo",
    "540": "tokuyo",
    "520": "roken",
    "550": "iryoin",
    "320": "gh",
    "331": "tokutei",
    "334": "tokutei",
    "335": "tokutei",
    "337": "tokutei",
    "361": "tokutei",
    "364": "tokutei",
    "332": "keihi",
    "336": "keihi",
    "362": "keihi",
    "333": "yogo",
    "363": "yogo",
}
# The registry's service names (NFKC, no spaces or brackets) for cells whose サービスの種類 is text;
# 特定施設 names are also recognised by their parts (``tokutei_code``), since published files
# spell the nested brackets in several ways (some unbalanced).
SERVICE_NAMES: dict[str, str] = {
    "介護老人福祉施設": "510",
    "地域密着型介護老人福祉施設入所者生活介護": "540",
    "地域密着型介護老人福祉施設": "540",
    "介護老人保健施設": "520",
    "介護医療院": "550",
    "短期入所療養介護介護医療院": "551",
    "認知症対応型共同生活介護": "320",
}
SHORT_STAY = {"551": "短期入所療養介護(介護医療院)は協力医療機関の対象施設ではありません"}
# One label per service code (what the bundled sample writes; real files spell 特定施設 names in
# several ways, all recognised by ``tokutei_code``).
SERVICE_LABELS_JA = {
    "510": "介護老人福祉施設",
    "540": "地域密着型介護老人福祉施設入所者生活介護",
    "520": "介護老人保健施設",
    "550": "介護医療院",
    "551": "短期入所療養介護(介護医療院)",
    "320": "認知症対応型共同生活介護",
    "331": "特定施設入居者生活介護(有料老人ホーム)",
    "332": "特定施設入居者生活介護(軽費老人ホーム)",
    "333": "特定施設入居者生活介護(養護老人ホーム)",
    "334": "特定施設入居者生活介護(サービス付き高齢者向け住宅)",
    "335": "特定施設入居者生活介護(有料老人ホーム・外部サービス利用型)",
    "336": "特定施設入居者生活介護(軽費老人ホーム・外部サービス利用型)",
    "337": "特定施設入居者生活介護(サービス付き高齢者向け住宅・外部サービス利用型)",
    "361": "地域密着型特定施設入居者生活介護(有料老人ホーム)",
    "362": "地域密着型特定施設入居者生活介護(軽費老人ホーム)",
    "363": "地域密着型特定施設入居者生活介護(養護老人ホーム)",
    "364": "地域密着型特定施設入居者生活介護(サービス付き高齢者向け住宅)",
}

COLUMNS: dict[str, tuple[str, ...]] = {
    "code": ("都道府県コード又は市町村コード", "都道府県コード又は市区町村コード", "市町村コード"),
    "no": ("No",),
    "prefecture": ("都道府県名",),
    "city": ("市区町村名",),
    "name": ("事業所名", "介護サービス事業所名称"),
    "service": ("サービスの種類", "サービス種類", "実施サービス"),
    "address": ("住所",),
    "building": ("方書(ビル名等)", "方書"),
    "lat": ("緯度",),
    "lon": ("経度",),
    "phone": ("電話番号",),
    "corporate_number": ("法人番号",),
    "corporate_name": ("法人の名称",),
    "office_number": ("事業所番号",),
    "capacity": ("定員",),
}
REQUIRED = {"name": "事業所名", "office_number": "事業所番号", "lat": "緯度", "lon": "経度"}
ANCHOR = ("name", "office_number")
WHAT = "介護サービス情報公表の事業所一覧"
_BRACKETS = re.compile(r"[\s()（）「」\[\]・、]")


def tokutei_code(text: str) -> str:
    """The service code of a 特定施設入居者生活介護 name (any bracket spelling); "" if not one.

    地域密着型 → 36x, else 33x; 軽費 → 2 (外部サービス利用型 → 336), 養護 → 3, サービス付き高齢者
    向け住宅 → 4 (外部 → 337), 有料 → 1 (外部 → 335).
    """
    key = _BRACKETS.sub("", normalize_text(text))
    if "特定施設入居者生活介護" not in key:
        return ""
    local = key.startswith("地域密着型")
    external = "外部サービス" in key
    if "軽費" in key or "ケアハウス" in key:
        return "362" if local else ("336" if external else "332")
    if "養護" in key and "特別養護" not in key:
        return "363" if local else "333"
    if "サービス付き高齢者向け住宅" in key or "サ高住" in key:
        return "364" if local else ("337" if external else "334")
    return "361" if local else ("335" if external else "331")


def file_service_code(file_name: str) -> str:
    """The service code a file is named after (``jigyosho_334.csv`` → ``334``); "" if none."""
    m = re.search(r"jigyosho_(\d{3})", file_name)
    return m.group(1) if m else ""


def service_code_of(value: object, file_name: str = "") -> str:
    """The 3-digit service code of a cell (code or registry name), else from ``jigyosho_510…``.

    A name the table does not know gives way to the file's own code; with neither, the text the
    user sees is returned (and reported by the caller).
    """
    text = re.sub(r"\s", "", normalize_text(value))
    if re.fullmatch(r"\d{3}", text):
        return text
    key = _BRACKETS.sub("", text)
    if key in SERVICE_NAMES:
        return SERVICE_NAMES[key]
    code = tokutei_code(text)
    if code:
        return code
    return file_service_code(file_name) or text


def _kind_of(service: str, name: str) -> str | None:
    kind = SERVICE_KINDS.get(service)
    if kind in ("tokutei", "keihi") and "養護老人ホーム" in name and "特別養護" not in name:
        return "yogo"
    return kind


def full_address(prefecture: str, city: str, address: str) -> str:
    """都道府県 + 市区町村 + 住所 without doubling what 住所 already begins with.

    Published rows mix ``南8条西26丁目1-2``, ``札幌市中央区旭ヶ丘…`` and ``北海道札幌市中央区…``;
    a 郡 before the town (``白老郡白老町…``) counts as the town.
    """
    address = re.sub(r"\s+", "", address)
    if prefecture and address.startswith(prefecture):
        return address
    if city and (
        address.startswith(city) or re.match(rf"^[^市区町村]{{1,6}}郡{re.escape(city)}", address)
    ):
        return prefecture + address
    return prefecture + city + address


def _read_table(t: Table) -> tuple[list[SourceRow], list[RejectedRow], list[RowIssue], int]:
    file, found = t.where, t.found
    rows: list[SourceRow] = []
    rejected: list[RejectedRow] = []
    warnings: list[RowIssue] = []
    source_name = f"{t.sheet} {t.file}"  # a ZIP member's own name first
    named_code = file_service_code(source_name)
    for rec in t.records:
        row = int(rec["__row__"])
        original = {k: v for k, v in rec.items() if k != "__row__"}

        get = cell_reader(rec, found)

        cell = get("service")
        service = service_code_of(cell, source_name)
        name = get("name")
        if service in SHORT_STAY:
            rejected.append(RejectedRow(file, row, SHORT_STAY[service], original, "skipped"))
            continue
        kind = _kind_of(service, name)
        if kind is None:
            shown = cell or service or "(空欄)"
            rejected.append(
                RejectedRow(
                    file,
                    row,
                    f"サービスの種類「{shown}」は協力医療機関の対象施設ではありません",
                    original,
                    "skipped",
                )
            )
            continue
        if (
            cell
            and service == named_code
            and not re.fullmatch(r"\d{3}", cell)
            and (_BRACKETS.sub("", cell) not in SERVICE_NAMES and not tokutei_code(cell))
        ):
            warnings.append(
                RowIssue(
                    file,
                    row,
                    found.get("service"),
                    cell,
                    "サービスの種類の名称を知らないため、ファイル名のサービスコード "
                    f"{service} を使います",
                    "warning",
                )
            )
        code = normalize_municipality_code(get("code"))
        if get("code") and not code:
            warnings.append(
                RowIssue(
                    file,
                    row,
                    found.get("code"),
                    get("code"),
                    "市町村コードの形式が正しくありません(検査数字を含む6桁)",
                    "warning",
                )
            )
        address = full_address(get("prefecture"), get("city"), get("address"))
        where = locate_row(
            file, row, original, found, get("lat"), get("lon"), code, address, rejected, warnings
        )
        if where is None:
            continue
        if code[2:5] == "000":  # a prefecture's code: use the municipality of the address
            muni = municipality_in_address(address)
            code = muni.code if muni else ""
        canonical = {
            "facility_id": get("office_number"),
            "name": name,
            "kind": kind,
            "lat": repr(where.lat),
            "lon": repr(where.lon),
            "municipality_code": code,
            "address": address,
            "geocode": where.precision,
            "service_code": service,
            "corporate_number": get("corporate_number"),
            "corporate_name": get("corporate_name"),
            "residents": get("capacity"),
            "phone": get("phone"),
        }
        rows.append(SourceRow(file, row, canonical, original))
    return rows, rejected, warnings, len(t.records)


def _note_same_place(rows: Sequence[SourceRow], out: ImportResult[Facility]) -> None:
    """Warn when one corporation registers several offices at one point (従来型 and ユニット型 of
    one home are two 指定, so both stay): the coordinator should know they are one building."""
    first: dict[tuple[str, str, str], SourceRow] = {}
    for r in rows:
        c = r.canonical
        corp = c.get("corporate_number", "")
        if not corp:
            continue
        key = (corp, f"{float(c['lat']):.5f}", f"{float(c['lon']):.5f}")
        if key in first:
            other = first[key]
            out.warnings.append(
                RowIssue(
                    r.file,
                    r.row,
                    "事業所番号",
                    c["facility_id"],
                    f"同じ法人の事業所が同じ位置にあります ({other.canonical['facility_id']} "
                    f"「{other.canonical['name']}」): 従来型・ユニット型などの別登録として"
                    "両方を残します",
                    "warning",
                )
            )
        else:
            first[key] = r


def import_kaigo(paths: str | Path | Sequence[str | Path]) -> ImportResult[Facility]:
    """Read one or more 介護サービス情報公表 CSVs (CSV/ZIP/gzip; UTF-8 or cp932) into facilities.

    Rows of other service types are skipped (reported, not silently dropped); rows with bad
    data are rejected with the reason; a missing required column raises ``InputError``.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    out: ImportResult[Facility] = ImportResult()
    rows = read_registry(paths, COLUMNS, ANCHOR, REQUIRED, WHAT, _read_table, out)
    _note_same_place(rows, out)
    services: dict[str, set[str]] = {}
    for r in rows:
        services.setdefault(r.canonical["facility_id"], set()).add(r.canonical["service_code"])
    for r in rows:
        ident, service = r.canonical["facility_id"], r.canonical["service_code"]
        if ident and len(services[ident]) > 1:
            r.canonical["facility_id"] = f"{ident}-{service}"
            out.warnings.append(
                RowIssue(
                    r.file,
                    r.row,
                    "事業所番号",
                    ident,
                    "同じ事業所番号が複数のサービス"
                    f"({'・'.join(sorted(services[ident]))})にあるため "
                    f"ID を「{ident}-{service}」にします",
                    "warning",
                )
            )
    return validate_into(out, rows, validate_facilities, "facility_id")
