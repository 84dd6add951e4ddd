"""``workbook.save_workbook`` writes the common cells as text instead of through openpyxl's
element writer (0.3 s of 東京都's workbook): the file must be what openpyxl's own ``save``
writes, member by member (timestamps aside), for any mix of cells — text with XML specials,
spaces to keep, line breaks, numbers, booleans, blanks, NaN and infinities, formulas, comments,
links, styled empty cells, row heights, an empty sheet. A newer openpyxl that writes cells
differently fails here rather than in a user's Excel."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Font

from matcher.reports.workbook import save_workbook

_STAMPS = re.compile(rb"<dcterms:(modified|created)[^<]*</dcterms:\1>")
TEXT = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufffe\uffff")
    | st.sampled_from(["\n", "\t", "\r", " ", "<", "&", ">", '"', "'", "\u3000"]),
    max_size=12,
)
VALUES = st.one_of(
    st.none(),
    TEXT,
    st.integers(-(10**18), 10**18),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.sampled_from(["=SUM(A1:A2)", "#N/A", "'=x", "  ", "ｱｲｳ", "改行\nあり"]),
)


def members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as z:
        return {n: _STAMPS.sub(b"", z.read(n)) for n in z.namelist()}


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(st.lists(VALUES, max_size=8), max_size=8),
    styled=st.lists(st.tuples(st.integers(1, 10), st.integers(1, 10)), max_size=3),
    extras=st.booleans(),
)
def test_saved_like_openpyxl(tmp_path_factory, rows, styled, extras) -> None:
    wb = Workbook()
    ws = wb.active
    for row in rows:
        ws.append(row)
    for r, c in styled:
        ws.cell(r, c).font = Font(bold=True)
        ws.cell(r, c).alignment = Alignment(wrap_text=True)
        ws.row_dimensions[r].height = 20 + r
    if extras:
        ws["C2"].comment = Comment("注記", "調整担当")
        ws["D1"].hyperlink = "https://example.com/a?b=1&c=2"
        wb.create_sheet("空")
    folder = tmp_path_factory.mktemp("wb")
    wb.save(folder / "openpyxl.xlsx")
    save_workbook(wb, folder / "ours.xlsx")
    theirs, ours = members(folder / "openpyxl.xlsx"), members(folder / "ours.xlsx")
    assert list(ours) == list(theirs)
    for name, data in theirs.items():
        assert ours[name] == data, name
