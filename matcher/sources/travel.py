"""Reading a user-supplied travel matrix (``facility_id, institution_id, km``)."""

from __future__ import annotations

from pathlib import Path

from .._errors import InputError, RowIssue
from ..model import normalize_text
from .textfile import read_table

COLUMNS = ("facility_id", "institution_id", "km")


def load_travel_rows(path: str | Path) -> list[tuple[str, str, float]]:
    """Rows of the matrix; every bad cell is reported with its row and column."""
    name = Path(path).name
    df = read_table(path)
    issues = [
        RowIssue(name, 1, c, None, f"必須列「{c}」がありません")
        for c in COLUMNS
        if c not in df.columns
    ]
    if issues:
        raise InputError(issues)
    rows = []
    for n, rec in enumerate(df.to_dict(orient="records"), start=2):
        text = normalize_text(rec["km"])
        try:
            km = float(text)
            if not km >= 0:
                raise ValueError
        except ValueError:
            issues.append(
                RowIssue(name, n, "km", text, "距離(km)は 0 以上の数値で指定してください")
            )
            continue
        rows.append((normalize_text(rec["facility_id"]), normalize_text(rec["institution_id"]), km))
    if issues:
        raise InputError(issues)
    return rows
