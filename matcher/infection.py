"""第二種協定指定医療機関 (新興感染症の医療措置協定): which institutions are one, which facilities
have one among their partners, and the run option that prefers them.

Where the flags live in the core's plain data (the store and the importers put them there):

- ``Institution.extra["infection_agreement"]`` — the institution is a 第二種協定指定医療機関
  (a current filing or its declaration says so; a simple ``institutions.csv`` may carry the
  column).
- ``Facility.extra["infection_partner"]`` — at least one of its filed or agreed partners is one;
  without it, a facility whose ``extra["partner_ids"]`` names a flagged institution has one.

The preference (``MatchParams.prefer_infection_agreement = d``, 0 ≤ d < 1) never touches the
solvers: the solvers see the candidate graph with every pair to a flagged institution at
``(1 − d) × km`` (re-sorted by facility, km, institution), and the chosen pairs are mapped back
to the true graph, so ranges, coverage and every reported km stay the real ones. With the exact
optimum only the last level (least total km) sees the discount — levels 1–4 are the same, and the
proposal may cost more real km; the greedy and stable baselines also rank by the discounted km.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

from .candidates import Candidates
from .model import Facility, Instance, Institution, normalize_text

INSTITUTION_KEY = "infection_agreement"
FACILITY_KEY = "infection_partner"
LABEL_JA = "第二種協定指定医療機関"
_TRUE = {"true", "1", "yes", "y", "はい", "○", "◯", "有", "あり", "該当"}


def flag(value: object) -> bool:
    """A stored or written yes/no (``true``/``はい``/``○``/``1`` …) as a bool; blank is False."""
    return normalize_text(value).strip().lower() in _TRUE


def flagged(extra: Mapping[str, str], key: str, value: bool) -> dict[str, str]:
    """A copy of ``extra`` whose ``key`` says ``value`` (``"true"``, or absent when False: the
    caller's truth replaces whatever a file once wrote there)."""
    out = {k: v for k, v in extra.items() if k != key}
    if value:
        out[key] = "true"
    return out


def is_infection_agreement(institution: Institution) -> bool:
    """Whether the institution is a 第二種協定指定医療機関."""
    return flag(institution.extra.get(INSTITUTION_KEY, ""))


def infection_ids(institutions: Iterable[Institution]) -> frozenset[str]:
    """Ids of the flagged institutions."""
    return frozenset(i.institution_id for i in institutions if is_infection_agreement(i))


def has_infection_partner(facility: Facility, flagged_ids: frozenset[str] = frozenset()) -> bool:
    """Whether a filed or agreed partner of the facility is a 第二種協定指定医療機関."""
    if flag(facility.extra.get(FACILITY_KEY, "")):
        return True
    return any(i in flagged_ids for i in facility.partner_ids)


def preferred_candidates(
    instance: Instance, cand: Candidates, discount: float, extra_km: np.ndarray | None = None
) -> tuple[Candidates, np.ndarray]:
    """The graph the solvers see under the preference, and for each of its positions the
    position of the same pair in ``cand`` (``cand`` itself and the identity when nothing is
    discounted). ``extra_km`` (per pair) is added to what the solvers see: other preferences
    (``matcher.corporation``) use the same view and way back."""
    mask = np.array([is_infection_agreement(i) for i in instance.institutions], bool)
    identity = np.arange(len(cand), dtype=np.int64)
    extra = extra_km is not None and bool(np.any(extra_km))
    if len(cand) == 0 or ((discount <= 0 or not mask.any()) and not extra):
        return cand, identity
    km = np.where(mask[cand.inst], cand.km * (1.0 - max(discount, 0.0)), cand.km)
    if extra_km is not None:
        km = km + extra_km
    order = np.lexsort((cand.inst, km, cand.fac))  # (facility, km, institution), as built
    view = Candidates(
        cand.fac[order], cand.inst[order], km[order], cand.covers[order], cand.n_fac, cand.n_inst
    )
    return view, order.astype(np.int64)
