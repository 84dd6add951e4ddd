"""The proposals list (提案一覧): proposals searched by facility, filtered by status, municipality
and institution, in the order of the printable lists (institution, then facility), paginated.

It filters the items ``proposals.cached_proposals`` returns (already within a scope and an area),
as ``browse`` filters the facility and institution lists.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..vocab import ProposalStatus, code5_of
from .browse import PER_PAGE, Page, normalise, paginate

# Without a status filter the list shows every proposal but the withdrawn ones.
LISTED_STATUSES = tuple(s.value for s in ProposalStatus if s is not ProposalStatus.WITHDRAWN)


@dataclass(frozen=True)
class ProposalQuery:
    """What a coordinator asks the proposals list (every field comes from the page's URL)."""

    q: str = ""  # part of the facility's id or name
    status: str = ""  # a proposal status; "" = ``LISTED_STATUSES``
    municipality: str = ""  # the facility's municipality (5 or 6 digits)
    institution: str = ""  # an institution id
    page: int = 1
    per_page: int = PER_PAGE[0]


def _order(p: Mapping[str, object]) -> tuple[str, str, float, int]:
    return (
        str(p["institution_id"]),
        str(p["facility_id"]),
        float(p["distance_km"]),  # type: ignore[arg-type]
        int(p["id"]),  # type: ignore[call-overload]
    )


def browse_proposals(
    proposals: Sequence[dict[str, object]], codes: Mapping[str, str], query: ProposalQuery
) -> Page[dict[str, object]]:
    """The ``proposals`` (``proposal_dict`` items) matching ``query``, by institution, facility,
    distance and id, paginated. ``codes`` maps a facility id to its municipality (code5). An
    unknown status or institution matches nothing."""
    words = normalise(query.q)
    municipality = code5_of(query.municipality)
    statuses = (query.status,) if query.status else LISTED_STATUSES
    wanted = [
        p
        for p in proposals
        if p["status"] in statuses
        and (not query.institution or p["institution_id"] == query.institution)
        and (not municipality or codes.get(str(p["facility_id"])) == municipality)
        and (not words or words in normalise(f"{p['facility_id']} {p['facility_name']}"))
    ]
    return paginate(sorted(wanted, key=_order), query.page, query.per_page)


def proposal_institutions(proposals: Sequence[Mapping[str, object]]) -> list[tuple[str, str]]:
    """(id, name) of every institution among ``proposals``, by id: the list's filter choices."""
    names = {str(p["institution_id"]): str(p["institution_name"]) for p in proposals}
    return sorted(names.items())
