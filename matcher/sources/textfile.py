"""Reading user tables: encoding detection (UTF-8, UTF-8 with BOM, cp932), ZIP/gzip, Excel.

Every reader returns a DataFrame of strings (nothing converted, NaN → "") plus the file's
display name, so validation can point at the exact row and column the user sees.
"""

from __future__ import annotations

import csv
import gzip
import io
import zipfile
from pathlib import Path

import pandas as pd

from .._errors import InputError, RowIssue

ENCODINGS = ("utf-8-sig", "cp932")


def decode_bytes(data: bytes, name: str) -> str:
    """Decode file bytes as UTF-8 (with or without BOM) or cp932, in that order."""
    for enc in ENCODINGS:
        try:
            return data.decode(enc)
        except UnicodeDecodeError:
            continue
    raise InputError(
        RowIssue(
            name,
            None,
            None,
            None,
            "文字コードを判別できません (UTF-8 または Shift_JIS(cp932) で保存してください)",
        )
    )


def unwrap_archive(data: bytes, name: str, suffix: str = ".csv") -> bytes:
    """Return the payload of a ZIP (first member ending in ``suffix``) or gzip file; else ``data``."""
    if data[:2] == b"PK":
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            members = [m for m in zf.namelist() if m.lower().endswith(suffix)]
            if not members:
                raise InputError(
                    RowIssue(name, None, None, None, f"ZIP の中に {suffix} ファイルがありません")
                )
            return zf.read(sorted(members)[0])
    if data[:2] == b"\x1f\x8b":
        return gzip.decompress(data)
    return data


def read_csv_text(text: str, name: str) -> pd.DataFrame:
    """Parse CSV text into a DataFrame of stripped strings with the header row as columns."""
    try:
        df = pd.read_csv(
            io.StringIO(text), dtype=str, keep_default_na=False, skipinitialspace=False
        )
    except (pd.errors.ParserError, csv.Error) as exc:
        raise InputError(RowIssue(name, None, None, None, f"CSV として読めません: {exc}")) from None
    except pd.errors.EmptyDataError:
        raise InputError(RowIssue(name, None, None, None, "ファイルが空です")) from None
    df.columns = [str(c).strip().lstrip("\ufeff") for c in df.columns]
    return df.apply(lambda col: col.str.strip())


def read_table(path: str | Path, sheet: str | int | None = None) -> pd.DataFrame:
    """Read a CSV (any supported encoding, possibly zipped) or an Excel sheet as strings."""
    path = Path(path)
    name = path.name
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(
            RowIssue(name, None, None, None, f"ファイルを開けません: {exc.strerror}")
        ) from None
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        try:
            df = pd.read_excel(
                io.BytesIO(data), sheet_name=sheet or 0, dtype=str, keep_default_na=False
            )
        except (
            Exception
        ) as exc:  # openpyxl raises many kinds; all mean "not a workbook we can read"
            raise InputError(
                RowIssue(name, None, None, None, f"Excel ファイルとして読めません: {exc}")
            ) from None
        df.columns = [str(c).strip() for c in df.columns]
        return df.apply(lambda col: col.astype(str).str.strip())
    return read_csv_text(decode_bytes(unwrap_archive(data, name), name), name)


def write_csv(df: pd.DataFrame, path: str | Path) -> Path:
    """Write a CSV that Excel opens correctly (UTF-8 with BOM, CRLF)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, index=False, encoding="utf-8-sig", lineterminator="\r\n")
    return path
