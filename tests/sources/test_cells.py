"""cells: text that spreadsheets never evaluate; invisible and control characters found."""

from __future__ import annotations

import pandas as pd
import pytest

from matcher.sources.cells import clean_id, clean_text, control_characters, safe_cell, safe_frame


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("=1+1", "'=1+1"),
        ("+81-88", "'+81-88"),
        ("-cmd", "'-cmd"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=x", "'\t=x"),
        ("-3.5", "-3.5"),
        ("+1e3", "+1e3"),
        ("高知病院", "高知病院"),
        ("a\x00b", "ab"),
        (3, 3),
        (None, None),
    ],
)
def test_safe_cell(value: object, shown: object) -> None:
    assert safe_cell(value) == shown


def test_safe_frame_covers_string_columns_and_headers() -> None:
    df = pd.DataFrame({"=h": ["=x", "ok"], "n": [1, 2]})
    out = safe_frame(df)
    assert list(out.columns) == ["'=h", "n"] and out["'=h"].tolist() == ["'=x", "ok"]
    assert df["=h"].tolist() == ["=x", "ok"]  # the input is not changed


def test_cleaning() -> None:
    assert clean_text("\u200b\ufeff ＡＢＣ\u00ad ") == "ABC"
    assert clean_id("39ー0001") == clean_id("39−0001") == "39-0001"
    assert control_characters("a\x00b\x1fc") == "U+0000, U+001F"
