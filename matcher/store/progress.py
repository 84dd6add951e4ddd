"""Progress over filing years read from the store (the rules are ``matcher.progress``'s): the
filed statuses of every facility in a scope (``store.state.filed_statuses``) by 年度, and the
import of several years of the same region.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy.orm import Session

from ..model import Instance
from ..progress import Progress, progress_of
from ..vocab import CodeSet
from .facilities import scoped_facilities
from .imports import import_simple
from .state import filed_statuses

__all__ = ["Progress", "import_filing_years", "progress_by_year"]


def progress_by_year(
    session: Session, scope: CodeSet, years: Sequence[int] | None = None
) -> Progress:
    """The progress table of the facilities within ``scope`` (module rules)."""
    rows = scoped_facilities(session, scope)
    return progress_of(
        [(r.facility_id, r.code5, r.kind) for r in rows], filed_statuses(session, rows), years
    )


def import_filing_years(session: Session, instances: Mapping[int, Instance]) -> None:
    """Import the same region's simple-format instances as filings of several 年度 (e.g. the
    sample and ``matcher.filing_years.earlier_year`` of it), oldest first, one declaration date."""
    for year in sorted(instances):
        import_simple(session, instances[year].facilities, instances[year].institutions, year)
