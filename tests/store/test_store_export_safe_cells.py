"""Issue 12: every spreadsheet the project writes neutralises formula-like text (store export as
CSV and Excel, the reports' workbook and CSVs), and control characters never break a file."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import openpyxl
import pandas as pd
from conftest import at_km

from matcher.match import match
from matcher.model import Facility, Instance, Institution
from matcher.reports import write_reports
from matcher.store.areas import save_area
from matcher.store.export import state_frames, write_export
from matcher.store.imports import import_simple

NAMES = {
    "F1": '=HYPERLINK("http://evil.example","x")',
    "F2": "+1",
    "F3": "@SUM(A1:A2)",
    "F4": "-2",
    "F5": "ベル\x07施設\x1b名",
    "F6": "-1+2",
}
FORMULA = ("=", "+", "-", "@")


def _instance() -> Instance:
    facs = [
        Facility(fid, name, "gh", *at_km(k, 0), municipality_code="392014")
        for k, (fid, name) in enumerate(NAMES.items())
    ]
    lat, lon = at_km(1, 1)
    insts = [Institution("H1", "=cmd|' /C calc'!A0", "hospital", lat, lon, 7, None, "392014")]
    return Instance.of(facs, insts)


def _assert_safe_text(value: object, original: str) -> None:
    """A cell holding ``original``: text, and never starting with a formula character unless
    it is only a number (``+1``, ``-2``: a spreadsheet shows them, nothing runs)."""
    assert isinstance(value, str)
    assert "\x07" not in value and "\x1b" not in value
    if value.startswith(FORMULA):
        assert value.lstrip("+-").replace(".", "").isdigit(), value
    if original.startswith(("=", "@")) or original == "-1+2":
        assert value == "'" + original


def _xlsx_names(path: Path, sheet: str, id_col: str, name_col: str) -> dict[str, object]:
    ws = openpyxl.load_workbook(path)[sheet]
    header = [c.value for c in ws[1]]
    i, n = header.index(id_col), header.index(name_col)
    out = {}
    for row in ws.iter_rows(min_row=2):
        assert row[n].data_type == "s", (row[i].value, row[n].value, row[n].data_type)
        out[row[i].value] = row[n].value
    return out


def test_store_export_csv_and_excel_never_evaluate_names(store, tmp_path) -> None:
    inst = _instance()
    with store.write() as s:
        import_simple(s, inst.facilities, inst.institutions, 2025, dt.date(2025, 4, 1))
        save_area(s, "A", "A", "renkei", ["39201"])
    with store.read() as s:
        frames = state_frames(s, "A")
    (xlsx,) = write_export(frames, tmp_path / "state.xlsx")
    names = _xlsx_names(xlsx, "施設", "facility_id", "name")
    for fid, original in NAMES.items():
        _assert_safe_text(names[fid], original)
    assert _xlsx_names(xlsx, "医療機関", "institution_id", "name")["H1"].startswith("'=")
    write_export(frames, tmp_path / "csv")
    df = pd.read_csv(tmp_path / "csv" / "facilities.csv", dtype=str, encoding="utf-8-sig")
    for fid, name in zip(df["facility_id"], df["name"], strict=True):
        _assert_safe_text(name, NAMES[fid])


def test_reports_workbook_and_csv_never_evaluate_names(tmp_path) -> None:
    inst = _instance()
    files = write_reports(inst, match(inst), tmp_path, today=dt.date(2026, 4, 1), pdf="none")
    sheets = openpyxl.load_workbook(files.files["workbook"])
    seen = 0
    for ws in sheets.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                if isinstance(cell.value, str) and cell.value.lstrip("'") in NAMES.values():
                    assert cell.data_type == "s"
                    _assert_safe_text(cell.value, cell.value.lstrip("'"))
                    seen += 1
                assert cell.data_type != "f", (ws.title, cell.coordinate, cell.value)
    assert seen >= len(NAMES) - 1  # the control-character name is found below
    for csv in (tmp_path / "csv").glob("*.csv"):
        text = csv.read_text("utf-8-sig")
        assert "\x07" not in text and "\n=HYPERLINK" not in text and ",=HYPERLINK" not in text
        assert ',"=HYPERLINK' not in text and ",@SUM" not in text
