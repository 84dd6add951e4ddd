"""The bundled sample region in the registries' own formats, written from a generated instance.

``write_sample_region`` turns an ``Instance`` of ``matcher.generate`` into the files a coordinator
downloads or collects (FORMATS.md), so that the importers have a whole prefecture to read:

- ``kaigo/jigyosho_<code>.csv``: 介護サービス情報公表 open data, 24 columns, UTF-8 with BOM
  (``320`` in cp932); facilities of the 介護 kinds, one file per service code; 551 短期入所 rows
  to be skipped.
- ``yogo_keihi.csv``: the simple facilities CSV (a prefecture's list); 養護 and 軽費 homes without
  a 特定施設 designation.
- ``navii/0*-1_*_facility_info_<date>.csv``: ナビイ 施設票, hospital and clinic files; every
  institution; one dental clinic to be skipped.
- ``kouseikyoku/todokede_meibo_<date>.xlsx``: 届出受理医療機関名簿 (title rows, header on row 4);
  支援病/支援診/地域包括ケア/後方支援 rows implying each institution's offers.
- ``declarations/moushide_<year>.csv``: institutions' declarations; willing, capacity and ①②③ of
  every institution that declares a capacity.
- ``filings/kyoryoku_todokede_<year>.xlsx``: the filing template of
  ``filings.write_filing_template``; facility × partner rows whose union is each facility's
  ``covered``.

Reading them back (``build_from_registry``) gives the instance again, except for what
``expected_canonical`` states: institutions are keyed by their ナビイ ID (``navii_id``), and
the rows written without coordinates sit at their municipality's point (``geocode=municipality``).
Some rows are written to be rejected, each for a documented reason (``DELIBERATE_REJECTS``).
Names and addresses in the 名簿 and filings are spelled differently from ナビイ (全角 digits,
corporate prefixes, 旧字体, 丁目/番), as real files are, so that the normalised joins are used.

The same instance always gives the same bytes (workbooks are saved with fixed timestamps).
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import numpy as np
import pandas as pd

from ..geo import haversine_km
from ..geocode import municipality_by_code
from ..model import (
    ALL_MASK,
    FACILITY_KINDS,
    Capability,
    Duty,
    Facility,
    Instance,
    Institution,
    normalize_text,
)
from ..reference import Municipality
from ..vocab import GeocodePrecision
from .filings import TEMPLATE_HEADERS, write_filing_template
from .importing import ImportOutcome, import_files
from .kaigo_registry import SERVICE_LABELS_JA
from .simple_csv import write_facilities
from .textfile import write_csv

if TYPE_CHECKING:
    from openpyxl import Workbook

SAMPLE_DAY = dt.date(2025, 6, 1)
FILING_DAY = dt.date(2025, 6, 30)
_STAMP = dt.datetime(2025, 6, 1, 9, 0, 0)

KAIGO_HEADER = (
    "都道府県コード又は市町村コード",
    "No",
    "都道府県名",
    "市区町村名",
    "事業所名",
    "事業所名カナ",
    "サービスの種類",
    "住所",
    "方書（ビル名等）",
    "緯度",
    "経度",
    "電話番号",
    "FAX番号",
    "法人番号",
    "法人の名称",
    "事業所番号",
    "利用可能曜日",
    "利用可能曜日特記事項（留意事項）",
    "定員",
    "URL",
    "高齢者の方と障害者の方が同時一体的に利用できるサービスである",
    "介護保険の通常の指定基準を満たしている",
    "障害福祉の通常の指定基準を満たしている",
    "備考",
)
NAVII_HEADER = (
    "ID",
    "正式名称",
    "正式名称（フリガナ）",
    "略称",
    "略称（フリガナ）",
    "英語表記（ローマ字表記）",
    "機関区分",
    "都道府県コード",
    "市区町村コード",
    "所在地",
    "所在地座標（緯度）",
    "所在地座標（経度）",
    "案内用ホームページアドレス",
    "毎週決まった日に休診",
    "一般病床",
    "療養病床",
    "精神病床",
    "結核病床",
    "感染症病床",
    "合計病床数",
)
MEIBO_HEADER = (
    "項番",
    "都道府県名",
    "区分",
    "医療機関番号",
    "医療機関記号番号",
    "医療機関名称",
    "医療機関所在地（郵便番号）",
    "医療機関所在地（住所）",
    "電話番号",
    "FAX番号",
    "病床数",
    "受理届出名称",
    "受理記号",
    "受理番号",
    "算定開始年月日",
    "備考",
)
DECLARATION_HEADER = (
    "医療機関コード",
    "医療機関名",
    "所在地",
    "協力医療機関となる意向",
    "新たに受け入れ可能な施設数",
    "①相談対応",
    "②診療",
    "③入院受入",
)
# The registry's service names (全角 brackets, as published) by service code.
SERVICE_LABELS = {
    code: name.replace("(", "（").replace(")", "）") for code, name in SERVICE_LABELS_JA.items()
}
CP932_SERVICES = ("320",)  # written in cp932, as some mirrors of the open data are
_CORPORATIONS = ("くろしお", "やまもも", "よさこい", "しまんと", "ちとせ", "はまゆう", "みなと")
RESIDENTS = {"tokuyo": 80, "roken": 100, "iryoin": 60, "gh": 18, "tokutei": 50, "keihi": 30}

# Rows written to be rejected or skipped, and why (the import reports list exactly these).
OUTSIDE_PARTNER = ("海陽みなと病院", "徳島県海部郡海陽町大里1-1")
UNKNOWN_FACILITY = ("3999999999", "閉鎖した特養くろしお")
UNKNOWN_MEIBO = ("0999999", "室戸岬みさき病院", "室戸市室戸岬町１番")
UNKNOWN_DECLARATION = ("県外ひがし病院", "愛媛県宇和島市1-1")
DENTAL = ("0003929999991", "高知市はなまる歯科", "高知県高知市9-9")
DELIBERATE_REJECTS = {
    "kaigo": "jigyosho_551.csv: 短期入所療養介護(介護医療院) の行は対象外 (施設ごとに1行)",
    "navii": f"歯科診療所「{DENTAL[1]}」は対象外",
    "kouseikyoku": f"「{UNKNOWN_MEIBO[1]}」はナビイにない (未結合)",
    "declarations": f"「{UNKNOWN_DECLARATION[0]}」は医療機関一覧にない (未結合)",
    "filings": (
        f"事業所番号 {UNKNOWN_FACILITY[0]} は施設一覧にない (未結合); ③が「△」の行はエラー; "
        f"協力医療機関「{OUTSIDE_PARTNER[0]}」は一覧にない (警告のみ、要件は届出どおり)"
    ),
}


def navii_id(institution_id: str) -> str:
    """The 13-digit ナビイ ID the sample gives an institution (``000`` + its 医療機関コード)."""
    return "000" + institution_id


def _no_coordinates_facility(k: int) -> bool:
    return k % 97 == 13


def _no_coordinates_institution(k: int) -> str | None:
    """How the k-th institution's coordinates are missing in ナビイ: ``"zero"``, ``"blank"`` or
    not."""
    return "zero" if k % 31 == 7 else "blank" if k % 31 == 19 else None


def service_code_of_facility(f: Facility, k: int) -> str | None:
    """The service file a facility is written to; ``None``: the prefecture's 養護/軽費 list."""
    if f.kind == "tokuyo":
        return "540" if k % 4 == 3 else "510"
    if f.kind == "keihi":
        return "332" if k % 3 == 0 else None  # a ケアハウス designated as 特定施設
    if f.kind == "tokutei":
        return ("331", "334", "361")[k % 3]
    return {"roken": "520", "iryoin": "550", "gh": "320"}.get(f.kind)


def _municipality(code: str) -> Municipality:
    m = municipality_by_code(code)
    if m is None:
        raise ValueError(f"市町村コード「{code}」が見つかりません")
    return m


_Located = TypeVar("_Located", Facility, Institution)


def _at_municipality(item: _Located, m: Municipality) -> _Located:
    return dataclasses.replace(item, lat=m.lat, lon=m.lon, geocode=GeocodePrecision.MUNICIPALITY)


def expected_canonical(instance: Instance) -> Instance:
    """What the importers must return for the files written from ``instance``.

    Differences from ``instance``: institution ids are ナビイ IDs, and rows written without
    coordinates are at their municipality's point with ``geocode="municipality"``.
    """
    facilities = []
    for k, f in enumerate(instance.facilities):
        if service_code_of_facility(f, k) is not None and _no_coordinates_facility(k):
            f = _at_municipality(f, _municipality(f.municipality_code))
        facilities.append(f)
    institutions = []
    for k, i in enumerate(instance.institutions):
        i = dataclasses.replace(i, institution_id=navii_id(i.institution_id))
        if _no_coordinates_institution(k):
            i = _at_municipality(i, _municipality(i.municipality_code))
        institutions.append(i)
    return Instance.of(facilities, institutions)


def _write_rows(
    path: Path, header: Sequence[str], rows: list[list[str]], encoding: str = "utf-8-sig"
) -> Path:
    """A CSV as the registries publish it: every cell quoted, CRLF."""
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    writer = csv.writer(buf, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    path.write_bytes(buf.getvalue().encode(encoding))
    return path


def _save_workbook(wb: Workbook, path: Path) -> Path:
    """Save a workbook with fixed timestamps (document properties and ZIP entries)."""
    wb.properties.created = wb.properties.modified = _STAMP
    stamp = _STAMP.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    raw = io.BytesIO()
    wb.save(raw)
    out = io.BytesIO()
    with zipfile.ZipFile(raw) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "docProps/core.xml":  # openpyxl stamps "modified" with the clock
                data = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*", rb"\g<1>" + stamp, data)
            dst.writestr(
                zipfile.ZipInfo(info.filename, date_time=_STAMP.timetuple()[:6]),
                data,
                compress_type=zipfile.ZIP_DEFLATED,
            )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(out.getvalue())
    return path


def _street(item: Facility | Institution, m: Municipality) -> str:
    """The part of a generated address after prefecture and municipality (``3-5``)."""
    return item.address.removeprefix(m.prefecture + m.name)


def _zenkaku(text: str) -> str:
    return text.translate(str.maketrans("0123456789-", "０１２３４５６７８９－"))


def _kaigo_row(f: Facility, k: int, m: Municipality, service: str, no: int) -> list[str]:
    """One row of a 介護サービス情報公表 file (the k-th facility; ``no`` counts rows of its
    file)."""
    lat, lon = ("", "") if _no_coordinates_facility(k) else (repr(f.lat), repr(f.lon))
    corp = f"社会福祉法人{_CORPORATIONS[k % len(_CORPORATIONS)]}会"
    return [
        f.municipality_code,
        str(no),
        m.prefecture,
        m.name,
        f.name,
        "",
        SERVICE_LABELS[service],
        _street(f, m),
        "",
        lat,
        lon,
        "",
        "",
        f"{7_000_000_000_000 + k:013d}",
        corp,
        f.facility_id,
        "月～日",
        "",
        str(RESIDENTS[f.kind] + k % 5 * 2),
        "",
        "",
        "",
        "",
        "",
    ]


def _kaigo_files(instance: Instance, out: Path) -> tuple[list[Path], Path]:
    by_service: dict[str, list[list[str]]] = {}
    listed: list[Facility] = []
    for k, f in enumerate(instance.facilities):
        service = service_code_of_facility(f, k)
        if service is None:
            listed.append(dataclasses.replace(f, covered=0, has_partner=None))
            continue
        m = _municipality(f.municipality_code)
        rows = by_service.setdefault(service, [])
        rows.append(_kaigo_row(f, k, m, service, len(rows) + 1))
        if f.kind == "iryoin":  # its short stay is listed in 551 under the same 事業所番号
            short = by_service.setdefault("551", [])
            short.append(_kaigo_row(f, k, m, "551", len(short) + 1))
    paths = [
        _write_rows(
            out / "kaigo" / f"jigyosho_{code}.csv",
            KAIGO_HEADER,
            rows,
            "cp932" if code in CP932_SERVICES else "utf-8-sig",
        )
        for code, rows in sorted(by_service.items())
    ]
    return paths, write_facilities(listed, out / "yogo_keihi.csv")


def _navii_files(instance: Instance, out: Path) -> list[Path]:
    rows: dict[str, list[list[str]]] = {"hospital": [], "clinic": []}
    for k, i in enumerate(instance.institutions):
        m = _municipality(i.municipality_code)
        missing = _no_coordinates_institution(k)
        lat, lon = {"zero": ("0", "0"), "blank": ("", "")}.get(
            missing or "", (repr(i.lat), repr(i.lon))
        )
        beds = ["", "", "", "", "", ""]
        if i.kind == "hospital":
            general, long_term = 40 + (k * 37) % 160, (k * 11) % 60
            beds = [str(general), str(long_term), "0", "0", "0", str(general + long_term)]
        rows[i.kind].append(
            [
                navii_id(i.institution_id),
                i.name,
                "",
                "",
                "",
                "",
                "1" if i.kind == "hospital" else "2",
                m.code[:2],
                m.code[2:5],
                i.address,
                lat,
                lon,
                "",
                "日曜日",
                *beds,
            ]
        )
    rows["clinic"].append(
        [
            DENTAL[0],
            DENTAL[1],
            "",
            "",
            "",
            "",
            "3",
            "39",
            "201",
            DENTAL[2],
            "33.56",
            "133.53",
            "",
            "日曜日",
            "",
            "",
            "",
            "",
            "",
            "",
        ]
    )
    day = SAMPLE_DAY.strftime("%Y%m%d")
    return [
        _write_rows(
            out / "navii" / f"01-1_hospital_facility_info_{day}.csv", NAVII_HEADER, rows["hospital"]
        ),
        _write_rows(
            out / "navii" / f"02-1_clinic_facility_info_{day}.csv", NAVII_HEADER, rows["clinic"]
        ),
    ]


def _meibo_name(i: Institution, k: int) -> str:
    """The 名簿's spelling of a name: 全角 digits, a corporate prefix or 旧字体, by turns."""
    return [_zenkaku(i.name), "医療法人　" + i.name, i.name.replace("高", "髙"), i.name][k % 4]


def _meibo_address(i: Institution, m: Municipality, k: int) -> str:
    """The 名簿's spelling of an address: no prefecture, 丁目/番 or 全角, by turns."""
    street = _street(i, m)
    parts = street.split("-")
    if k % 3 == 0 and len(parts) == 2:
        return f"{m.name}{_zenkaku(parts[0])}丁目{_zenkaku(parts[1])}番"
    if k % 3 == 1:
        return m.name + _zenkaku(street)
    return i.address


def _meibo_standards(i: Institution, k: int) -> list[tuple[str, str]]:
    """(受理届出名称, 受理記号) rows that give the institution exactly its offers, plus others."""
    rows: list[tuple[str, str]] = []
    if i.offers == ALL_MASK:
        rows.append(("在宅療養支援病院", f"支援病{'１２３'[k % 3]}"))
        if k % 2 == 0:
            rows.append(("地域包括ケア病棟入院料１", "地包ケア１"))
        if k % 5 == 0:
            rows.append(("協力対象施設入所者入院加算", "協力入院"))
    elif i.offers == Capability.ADMIT:
        rows.append(
            ("地域包括ケア病棟入院料２", "地包ケア２")
            if k % 2 == 0
            else ("在宅療養後方支援病院", "在後病")
        )
    elif i.offers == Capability.CONSULT | Capability.CARE:
        rows.append(("在宅療養支援診療所", f"支援診{'１２３'[k % 3]}"))
        if k % 7 == 0:
            rows.append(("介護保険施設等連携往診加算", "連携往診"))
    else:
        raise ValueError(f"医療機関 {i.institution_id} の offers {i.offers} を名簿で表せません")
    if k % 4 == 0:
        rows.append(("明細書発行体制等加算", "明細"))
    return rows


def _kouseikyoku_file(instance: Instance, out: Path) -> Path:
    from openpyxl import Workbook

    wb = Workbook()
    cover = wb.active
    cover.title = "表紙"
    cover["A1"] = f"届出受理医療機関名簿（令和7年{SAMPLE_DAY.month}月1日現在）"
    ws = wb.create_sheet("高知県")
    ws["A1"] = "届出受理医療機関名簿（医科）"
    ws["A2"] = "四国厚生支局"
    ws.append([])
    ws.append(list(MEIBO_HEADER))  # row 4
    n = 0

    def add(number: str, name: str, address: str, beds: str, standard: str, symbol: str) -> None:
        nonlocal n
        n += 1
        ws.append(
            [
                n,
                "高知県",
                "医科",
                number,
                "",
                name,
                "",
                address,
                "",
                "",
                beds,
                standard,
                symbol,
                f"第{n}号",
                "令和6年6月1日",
                "",
            ]
        )

    for k, i in enumerate(instance.institutions):
        m = _municipality(i.municipality_code)
        beds = f"一般　{40 + (k * 37) % 160}" if i.kind == "hospital" else ""
        for standard, symbol in _meibo_standards(i, k):
            add(
                i.institution_id[3:],
                _meibo_name(i, k),
                _meibo_address(i, m, k),
                beds,
                standard,
                symbol,
            )
    add(
        UNKNOWN_MEIBO[0],
        UNKNOWN_MEIBO[1],
        UNKNOWN_MEIBO[2],
        "一般　50",
        "在宅療養支援病院",
        "支援病２",
    )
    return _save_workbook(
        wb, out / "kouseikyoku" / f"todokede_meibo_shikoku_{SAMPLE_DAY:%Y%m}.xlsx"
    )


def _declarations_file(instance: Instance, out: Path) -> Path:

    def mark(on: int) -> str:
        return "○" if on else "×"

    rows = []
    for k, i in enumerate(instance.institutions):
        if i.capacity is None:
            continue
        rows.append(
            [
                i.institution_id if k % 2 == 0 else "",
                i.name,
                i.address,
                "はい",
                str(i.capacity),
                mark(i.offers & Capability.CONSULT),
                mark(i.offers & Capability.CARE),
                mark(i.offers & Capability.ADMIT),
            ]
        )
    rows.append(["", UNKNOWN_DECLARATION[0], UNKNOWN_DECLARATION[1], "はい", "2", "○", "○", "○"])
    path = out / "declarations" / f"moushide_{SAMPLE_DAY.year}.csv"
    return write_csv(pd.DataFrame(rows, columns=list(DECLARATION_HEADER)), path)


def _partners(
    f: Facility, insts: tuple[Institution, ...], km: np.ndarray, k: int
) -> list[tuple[Institution, int]]:
    """The partners a facility files and what each provides; their union is ``f.covered``."""
    order = np.argsort(km, kind="stable")

    def nearest(need: int) -> Institution:
        return next(insts[int(j)] for j in order if insts[j].offers & need == need)

    c = f.covered
    if c == 0:
        return [(insts[order[0]], 0)]
    if c & Capability.ADMIT:
        h = nearest(Capability.ADMIT)
        out = [(h, c & h.offers)]
        rest = c & ~h.offers
        if rest:
            out.append((nearest(rest), rest))
        elif (
            k % 3 == 0 and c & Capability.CARE
        ):  # many keep a clinic for visits besides the hospital
            clinic = nearest(Capability.CONSULT | Capability.CARE)
            if clinic is not h:
                out.append((clinic, c & clinic.offers))
        return out
    return [(nearest(c), c)]


def _filings_file(instance: Instance, out: Path) -> Path:
    from openpyxl import load_workbook

    insts = instance.institutions
    lat = np.array([i.lat for i in insts])
    lon = np.array([i.lon for i in insts])
    yes_no = (("はい", "いいえ"), ("○", "×"))
    rows: list[list[object]] = []
    outside_done = bad_done = False
    for k, f in enumerate(instance.facilities):
        if f.has_partner is None:
            continue  # no filing: status unknown
        yes, no = yes_no[k % 2]
        label = FACILITY_KINDS[f.kind].label_ja
        head = [f.facility_id, f.name, label]
        if not f.has_partner:
            rows.append(head + ["", "", "", no, no, no, "", FILING_DAY, "近隣の病院と協議中"])
            continue
        km = haversine_km(f.lat, f.lon, lat, lon)
        partners = _partners(f, insts, km, k)
        for n, (inst, provides) in enumerate(partners):
            name, address, code = inst.name, inst.address, inst.institution_id if k % 2 == 0 else ""
            if (
                not outside_done
                and n == 0
                and f.covered == ALL_MASK
                and f.info.duty is Duty.MANDATORY
            ):
                name, address, code = OUTSIDE_PARTNER[0], OUTSIDE_PARTNER[1], ""
                outside_done = True
            elif k % 5 == 1:
                name = "医療法人　" + normalize_text(name)
            flags = [
                yes if provides & cap else no
                for cap in (Capability.CONSULT, Capability.CARE, Capability.ADMIT)
            ]
            plan = "" if f.covered & f.required == f.required else "③について近隣病院と協議予定"
            rows.append(
                head
                + [
                    name,
                    address,
                    code,
                    *flags,
                    yes if inst.kind == "hospital" else no,
                    FILING_DAY,
                    plan,
                ]
            )
            if (
                not bad_done and n == 0
            ):  # a repeated row with an unreadable ③ (rejected, changes nothing)
                rows.append(head + [name, address, code, *flags[:2], "△", "", FILING_DAY, ""])
                bad_done = True
    full = next(i for i in insts if i.offers == ALL_MASK)
    rows.append(
        [
            UNKNOWN_FACILITY[0],
            UNKNOWN_FACILITY[1],
            FACILITY_KINDS["tokuyo"].label_ja,
            full.name,
            full.address,
            "",
            "はい",
            "はい",
            "はい",
            "",
            FILING_DAY,
            "",
        ]
    )
    path = out / "filings" / f"kyoryoku_todokede_{SAMPLE_DAY.year}.xlsx"
    write_filing_template(path, rows=len(rows))
    wb = load_workbook(path)
    ws = wb["届出"]
    assert [c.value for c in ws[1]] == list(TEMPLATE_HEADERS)
    for r, values in enumerate(rows, start=2):
        for c, value in enumerate(values, start=1):
            if value not in ("", None):
                ws.cell(r, c, value)
    return _save_workbook(wb, path)


@dataclass(frozen=True)
class SampleFiles:
    """The registry-format files of a sample region, by source."""

    kaigo: tuple[Path, ...]
    listed_facilities: Path  # 養護/軽費 in the simple format
    navii: tuple[Path, ...]
    kouseikyoku: tuple[Path, ...]
    declarations: tuple[Path, ...]
    filings: tuple[Path, ...]

    @classmethod
    def of(cls, directory: str | Path) -> SampleFiles:
        """Find the files in a directory laid out as ``write_sample_region`` writes it."""
        d = Path(directory)

        def found(sub: str, pattern: str) -> tuple[Path, ...]:
            paths = tuple(sorted((d / sub).glob(pattern)))
            if not paths:
                raise FileNotFoundError(
                    f"{d / sub} に {pattern} がありません (kyoryoku sample で作成してください)"
                )
            return paths

        return cls(
            found("kaigo", "jigyosho_*.csv"),
            d / "yogo_keihi.csv",
            found("navii", "*.csv"),
            found("kouseikyoku", "*.xlsx"),
            found("declarations", "*.csv"),
            found("filings", "*.xlsx"),
        )

    def all(self) -> list[Path]:
        return [
            *self.kaigo,
            self.listed_facilities,
            *self.navii,
            *self.kouseikyoku,
            *self.declarations,
            *self.filings,
        ]


def write_sample_region(instance: Instance, out: str | Path) -> SampleFiles:
    """Write ``instance`` as registry files, filings and declarations under ``out`` (see module
    doc)."""
    out = Path(out)
    kaigo, listed = _kaigo_files(instance, out)
    return SampleFiles(
        tuple(kaigo),
        listed,
        tuple(_navii_files(instance, out)),
        (_kouseikyoku_file(instance, out),),
        (_declarations_file(instance, out),),
        (_filings_file(instance, out),),
    )


def run_importers(directory: str | Path, out: str | Path) -> list[ImportOutcome]:
    """Run the importers on a sample directory in order: kaigo → navii → kouseikyoku →
    declarations → filings; each step writes its own CSV (and rejects) into ``out``."""
    files = SampleFiles.of(directory)
    out = Path(out)
    fac_registry = out / "facilities_registry.csv"
    inst_navii, inst_flags = out / "institutions_navii.csv", out / "institutions_flags.csv"
    return [
        import_files("kaigo", files.kaigo, fac_registry, facilities=files.listed_facilities),
        import_files("navii", files.navii, inst_navii),
        import_files("kouseikyoku", files.kouseikyoku, inst_flags, institutions=inst_navii),
        import_files(
            "declarations", files.declarations, out / "institutions.csv", institutions=inst_flags
        ),
        import_files(
            "filings",
            files.filings,
            out / "facilities.csv",
            facilities=fac_registry,
            institutions=out / "institutions.csv",
        ),
    ]


def build_from_registry(
    directory: str | Path, out: str | Path = "out/registry"
) -> tuple[Path, Path]:
    """The simple-format ``(facilities.csv, institutions.csv)`` built from a sample's registry
    files."""
    outcomes = run_importers(directory, out)
    return outcomes[-1].out, outcomes[-2].out
