"""The simple CSV exchange format of MODEL.md: read facilities/institutions, write them back."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from .._errors import InputError
from ..model import Facility, Institution, format_capabilities
from ..validate import Validated, validate_facilities, validate_institutions
from .textfile import read_table, write_csv


def _records(df: pd.DataFrame) -> list[dict[str, object]]:
    return df.to_dict(orient="records")


def load_facilities(path: str | Path, strict: bool = True) -> Validated[Facility]:
    """Read ``facilities.csv``; with ``strict`` any error raises ``InputError`` listing all of them."""
    df = read_table(path)
    result = validate_facilities(_records(df), Path(path).name, list(df.columns))
    if strict and result.errors:
        raise InputError(result.errors)
    return result


def load_institutions(path: str | Path, strict: bool = True) -> Validated[Institution]:
    """Read ``institutions.csv``; with ``strict`` any error raises ``InputError`` listing all of them."""
    df = read_table(path)
    result = validate_institutions(_records(df), Path(path).name, list(df.columns))
    if strict and result.errors:
        raise InputError(result.errors)
    return result


def facilities_frame(facilities: Iterable[Facility]) -> pd.DataFrame:
    """Facilities in the simple format's columns (extra columns appended)."""
    rows = []
    for f in facilities:
        rows.append(
            {
                "facility_id": f.facility_id,
                "name": f.name,
                "kind": f.kind,
                "lat": f"{f.lat:.6f}",
                "lon": f"{f.lon:.6f}",
                "covered": format_capabilities(f.covered),
                "has_partner": "" if f.has_partner is None else str(f.has_partner).lower(),
                "municipality_code": f.municipality_code,
                "address": f.address,
                **({"geocode": f.geocode} if f.geocode != "exact" else {}),
                **f.extra,
            }
        )
    cols = [
        "facility_id",
        "name",
        "kind",
        "lat",
        "lon",
        "covered",
        "has_partner",
        "municipality_code",
        "address",
    ]
    return pd.DataFrame(rows, columns=_columns(cols, rows))


def institutions_frame(institutions: Iterable[Institution]) -> pd.DataFrame:
    """Institutions in the simple format's columns (extra columns appended)."""
    rows = []
    for i in institutions:
        rows.append(
            {
                "institution_id": i.institution_id,
                "name": i.name,
                "kind": i.kind,
                "lat": f"{i.lat:.6f}",
                "lon": f"{i.lon:.6f}",
                "offers": format_capabilities(i.offers),
                "capacity": "" if i.capacity is None else str(i.capacity),
                "municipality_code": i.municipality_code,
                "address": i.address,
                **({"geocode": i.geocode} if i.geocode != "exact" else {}),
                **i.extra,
            }
        )
    cols = [
        "institution_id",
        "name",
        "kind",
        "lat",
        "lon",
        "offers",
        "capacity",
        "municipality_code",
        "address",
    ]
    return pd.DataFrame(rows, columns=_columns(cols, rows))


def _columns(base: list[str], rows: list[dict[str, object]]) -> list[str]:
    extra: list[str] = []
    for r in rows:
        extra.extend(k for k in r if k not in base and k not in extra)
    return base + extra


def write_facilities(
    facilities: Iterable[Facility], path: str | Path, encoding: str = "utf-8-sig"
) -> Path:
    """Write ``facilities.csv`` (UTF-8 with BOM by default; ``cp932`` or ``utf-8`` on request)."""
    return _write(facilities_frame(facilities), path, encoding)


def write_institutions(
    institutions: Iterable[Institution], path: str | Path, encoding: str = "utf-8-sig"
) -> Path:
    """Write ``institutions.csv`` (UTF-8 with BOM by default; ``cp932`` or ``utf-8`` on request)."""
    return _write(institutions_frame(institutions), path, encoding)


def _write(df: pd.DataFrame, path: str | Path, encoding: str) -> Path:
    if encoding == "utf-8-sig":
        return write_csv(df, path)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, index=False, encoding=encoding, lineterminator="\r\n")
    return path
