"""An institution's capacity as a run's reports speak of it: declared, room, used, left.

``Institution.capacity`` is the bound the planner obeys: the places a run may still give. On
the simple format it is the declaration itself; for a stored run it is the *room* the capacity
ledger leaves for the run (``store.report_input.ledger_capacities``: the declaration less what
every other live or agreed partnership uses), which is smaller than the declaration once
another area's run has reserved places. A letter must print the declaration as declared, so the
store puts it beside the room (the importers and the store put flags the same way, see
``matcher.infection``):

- ``Institution.extra["declared_capacity"]`` — the declared capacity when it differs from
  ``capacity`` (the room); absent: the declaration is ``capacity``.

What a run's proposals use of an institution's capacity counts a site once, as the planner
counts it (``matcher.sites``: ``Sites.of`` over the run's facilities; ``SitePlan.used``), unless
``MatchParams.count_site_registrations`` plans every registration alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from .model import Instance, Institution, normalize_text
from .sites import Sites

DECLARED_KEY = "declared_capacity"


def declared_capacity(institution: Institution) -> int | None:
    """The institution's declared capacity (``None``: not declared, unlimited)."""
    text = normalize_text(institution.extra.get(DECLARED_KEY, ""))
    if institution.capacity is None or not text.isdigit():
        return institution.capacity
    return int(text)


def with_room(institution: Institution, room: int | None, declared: int | None) -> Institution:
    """``institution`` bounded by ``room`` (the places its run may still give) and carrying
    ``declared`` beside it when the two differ (``declared_capacity`` reads it back)."""
    extra = {k: v for k, v in institution.extra.items() if k != DECLARED_KEY}
    if room is not None and declared is not None and declared != room:
        extra[DECLARED_KEY] = str(declared)
    return replace(institution, capacity=room, extra=extra)


def partnerships_used(
    instance: Instance, pairs: Iterable[tuple[str, str]], count_registrations: bool = False
) -> dict[str, int]:
    """institution_id → the capacity ``pairs`` (facility_id, institution_id) use of it: the
    registrations of one site (``Sites.of(instance)``) count once, every one of them when
    ``count_registrations`` (``MatchParams.count_site_registrations``); a facility not in
    ``instance`` counts alone."""
    position = {f.facility_id: k for k, f in enumerate(instance.facilities)}
    unit = Sites.of(instance).unit if not count_registrations else None
    seen: dict[str, set[object]] = {}
    for fid, iid in pairs:
        k = position.get(fid)
        key: object = fid if k is None or unit is None else int(unit[k])
        seen.setdefault(iid, set()).add(key)
    return {iid: len(keys) for iid, keys in seen.items()}
