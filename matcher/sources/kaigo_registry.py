"""介護サービス情報公表システム open data (one CSV per service type) → canonical facilities.

Each target row is mapped onto the facility columns of MODEL.md and validated by
``validate.validate_facilities``. Identity: ``facility_id`` is the 10-character 事業所番号; only
when the same 事業所番号 is imported under two target service codes do those rows get
``事業所番号-サービスコード`` (the registry's own key is the pair), with a warning. The service
code is kept in ``extra["service_code"]``.

Kinds (FORMATS.md §1): 510/540 → tokuyo, 520 → roken, 550 → iryoin, 320 → gh, 331/334/335/337/
361/364 → tokutei. 特定施設 designations of a 軽費老人ホーム (332/336/362) count as ``keihi``, and
a 特定施設 whose name says 養護老人ホーム (not 特別養護) as ``yogo``, as the 令和7年12月25日 table
asks. 551 (短期入所療養介護) and every other service code are reported as skipped rows.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from .._errors import RowIssue
from ..geocode import locate, municipality_in_address, normalize_municipality_code
from ..model import Facility, normalize_text
from ..validate import validate_facilities
from .columns import read_mapped, records_of
from .report import ImportResult, RejectedRow, SourceRow, validate_rows

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
}
# The registry's service names (after NFKC, without spaces) for files whose サービスの種類 is text.
SERVICE_NAMES: dict[str, str] = {
    "介護老人福祉施設": "510",
    "地域密着型介護老人福祉施設入所者生活介護": "540",
    "介護老人保健施設": "520",
    "介護医療院": "550",
    "短期入所療養介護(介護医療院)": "551",
    "認知症対応型共同生活介護": "320",
    "特定施設入居者生活介護(有料老人ホーム)": "331",
    "特定施設入居者生活介護(軽費老人ホーム)": "332",
    "特定施設入居者生活介護(サービス付き高齢者向け住宅)": "334",
    "特定施設入居者生活介護(有料老人ホーム・外部サービス利用型)": "335",
    "特定施設入居者生活介護(軽費老人ホーム・外部サービス利用型)": "336",
    "特定施設入居者生活介護(サービス付き高齢者向け住宅・外部サービス利用型)": "337",
    "地域密着型特定施設入居者生活介護(有料老人ホーム)": "361",
    "地域密着型特定施設入居者生活介護(軽費老人ホーム)": "362",
    "地域密着型特定施設入居者生活介護(サービス付き高齢者向け住宅)": "364",
}
SHORT_STAY = {"551": "短期入所療養介護(介護医療院)は協力医療機関の対象施設ではありません"}

COLUMNS: dict[str, tuple[str, ...]] = {
    "code": ("都道府県コード又は市町村コード", "都道府県コード又は市区町村コード", "市町村コード"),
    "no": ("No",),
    "prefecture": ("都道府県名",),
    "city": ("市区町村名",),
    "name": ("事業所名",),
    "service": ("サービスの種類", "サービス種類"),
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


def service_code_of(value: object, file_name: str = "") -> str:
    """The 3-digit service code of a cell (code or registry name), else from ``jigyosho_510…``."""
    text = re.sub(r"\s", "", normalize_text(value))
    if re.fullmatch(r"\d{3}", text):
        return text
    if text in SERVICE_NAMES:
        return SERVICE_NAMES[text]
    m = re.search(r"jigyosho_(\d{3})", file_name)
    if text == "" and m:
        return m.group(1)
    return text  # unknown: reported by the caller with the text the user sees


def _kind_of(service: str, name: str) -> str | None:
    kind = SERVICE_KINDS.get(service)
    if kind in ("tokutei", "keihi") and "養護老人ホーム" in name and "特別養護" not in name:
        return "yogo"
    return kind


def _read(path: Path) -> tuple[list[SourceRow], list[RejectedRow], list[RowIssue], int]:
    df, found = read_mapped(path, COLUMNS, REQUIRED)
    file = path.name
    rows: list[SourceRow] = []
    rejected: list[RejectedRow] = []
    warnings: list[RowIssue] = []
    for offset, rec in enumerate(records_of(df)):
        row = 2 + offset
        original = rec
        get = lambda key: normalize_text(rec.get(found.get(key, ""), ""))  # noqa: E731
        service = service_code_of(get("service"), file)
        name = get("name")
        if service in SHORT_STAY:
            rejected.append(RejectedRow(file, row, SHORT_STAY[service], original, "skipped"))
            continue
        kind = _kind_of(service, name)
        if kind is None:
            shown = service or "(空欄)"
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
        address = get("prefecture") + get("city") + get("address")
        where = locate(get("lat"), get("lon"), code, address)
        if not where.ok:
            rejected.append(RejectedRow(file, row, where.note, original))
            continue
        if where.note:
            warnings.append(
                RowIssue(
                    file,
                    row,
                    found.get("lat"),
                    f"{get('lat')}, {get('lon')}",
                    where.note,
                    "warning",
                )
            )
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
    return rows, rejected, warnings, len(df)


def import_kaigo(paths: str | Path | Sequence[str | Path]) -> ImportResult[Facility]:
    """Read one or more 介護サービス情報公表 CSVs (CSV/ZIP/gzip; UTF-8 or cp932) into facilities.

    Rows of other service types are skipped (reported, not silently dropped); rows with bad
    data are rejected with the reason; a missing required column raises ``InputError``.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    rows: list[SourceRow] = []
    out: ImportResult[Facility] = ImportResult()
    for p in paths:
        part, rejected, warnings, n = _read(Path(p))
        rows.extend(part)
        out.rejected.extend(rejected)
        out.warnings.extend(warnings)
        out.rows_read += n
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
                    f"同じ事業所番号が複数のサービス({'・'.join(sorted(services[ident]))})にあるため "
                    f"ID を「{ident}-{service}」にします",
                    "warning",
                )
            )
    validated = validate_rows(rows, validate_facilities, "facility_id")
    out.items.extend(validated.items)
    out.rejected.extend(validated.rejected)
    out.warnings.extend(validated.warnings)
    out.rejected.sort(key=lambda r: (r.file, r.row or 0))
    return out
