"""Explanations for coordinators: outcome per facility, why a requirement stays missing,
alternatives."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from scipy.spatial import cKDTree

from .candidates import Candidates, Problem
from .geo import km_to_chord, unit_vectors
from .model import CAPABILITIES, Instance, status_of
from .objective import coverage_after
from .params import MatchParams
from .result import Alternative, FacilityOutcome, Proposal, Unmatched
from .vocab import Reason


def proposals_of(instance: Instance, cand: Candidates, chosen: np.ndarray) -> tuple[Proposal, ...]:
    """Proposal rows sorted by (facility, distance, institution)."""
    rows = sorted(chosen, key=lambda p: (cand.fac[p], cand.km[p], cand.inst[p]))
    return tuple(
        Proposal(
            instance.facilities[cand.fac[p]].facility_id,
            instance.institutions[cand.inst[p]].institution_id,
            int(cand.covers[p]),
            float(cand.km[p]),
        )
        for p in rows
    )


def outcomes_of(
    instance: Instance, problem: Problem, cand: Candidates, chosen: np.ndarray
) -> tuple[FacilityOutcome, ...]:
    """Status before and after for every facility of the instance (none is left out)."""
    got = coverage_after(problem, cand, chosen)
    partnered = np.zeros(problem.n_fac, bool)
    partnered[cand.fac[chosen]] = True
    n_cand = np.bincount(cand.fac, minlength=problem.n_fac)
    out = []
    for k, f in enumerate(instance.facilities):
        covered_after = f.covered | int(got[k])
        has_after = True if partnered[k] else f.has_partner
        out.append(
            FacilityOutcome(
                facility_id=f.facility_id,
                status_before=f.status,
                status_after=status_of(f.required, covered_after, has_after),
                missing_before=f.missing,
                missing_after=f.required & ~covered_after,
                unknown=f.covered == 0 and f.has_partner is None,
                candidates=int(n_cand[k]),
            )
        )
    return tuple(out)


def unknown_offers_in_range(
    problem: Problem, max_km: Mapping[int, float] | None = None
) -> np.ndarray:
    """Per facility, the capabilities (mask) for which institutions lie within range but none of
    them has any known offer: the registry says where they are, not what they do.

    Great-circle distance, so a road factor can only make fewer pairs in range; without
    ``max_km`` the defaults of ``MatchParams`` are used.
    """
    out = np.zeros(problem.n_fac, np.uint8)
    if problem.n_fac == 0 or problem.n_inst == 0:
        return out
    limits = dict(MatchParams().max_km if max_km is None else max_km)
    known = problem.offers > 0
    fac_xyz = unit_vectors(problem.fac_lat, problem.fac_lon)
    inst_xyz = unit_vectors(problem.inst_lat, problem.inst_lon)
    unknown_tree = cKDTree(inst_xyz[~known]) if (~known).any() else None
    known_tree = cKDTree(inst_xyz[known]) if known.any() else None
    if unknown_tree is None:
        return out
    demand = np.flatnonzero(problem.missing)
    for cap in CAPABILITIES:
        reach = km_to_chord(limits[cap]) * (1 + 1e-9)
        need = demand[(problem.missing[demand] & int(cap)) > 0]
        if len(need) == 0:
            continue
        near_unknown = np.array(
            [len(x) > 0 for x in unknown_tree.query_ball_point(fac_xyz[need], reach)], bool
        )
        if known_tree is not None:
            near_known = np.array(
                [len(x) > 0 for x in known_tree.query_ball_point(fac_xyz[need], reach)], bool
            )
        else:
            near_known = np.zeros(len(need), bool)
        out[need[near_unknown & ~near_known]] |= int(cap)
    return out


def unmatched_of(
    instance: Instance,
    problem: Problem,
    cand: Candidates,
    chosen: np.ndarray,
    max_partners: int,
    max_km: Mapping[int, float] | None = None,
) -> tuple[Unmatched, ...]:
    """One row per (facility, capability) still missing, with the reason (MODEL.md).

    ``offers_unknown`` replaces ``no_candidate`` where institutions are in range but none of them
    has any known offer (``unknown_offers_in_range``): the data lacks a 名簿 or declarations.
    """
    got = coverage_after(problem, cand, chosen)
    unknown = unknown_offers_in_range(problem, max_km)
    offered = np.zeros(problem.n_fac, np.uint8)
    np.bitwise_or.at(offered, cand.fac, cand.covers)
    partners = np.bincount(cand.fac[chosen], minlength=problem.n_fac)
    rows = []
    for k, f in enumerate(instance.facilities):
        if f.missing and not problem.missing[k]:
            rows += [
                Unmatched(f.facility_id, int(c), Reason.UNKNOWN_EXCLUDED)
                for c in CAPABILITIES
                if f.missing & c
            ]
            continue
        left = int(problem.missing[k]) & ~int(got[k])
        for c in CAPABILITIES:
            if not left & c:
                continue
            reason: Reason
            if not offered[k] & c:
                reason = Reason.OFFERS_UNKNOWN if unknown[k] & c else Reason.NO_CANDIDATE
            elif partners[k] >= max_partners:
                reason = Reason.PARTNER_LIMIT
            else:
                reason = Reason.CAPACITY
            rows.append(Unmatched(f.facility_id, int(c), reason))
    return tuple(rows)


def remaining_capacity(problem: Problem, cand: Candidates, chosen: np.ndarray) -> np.ndarray:
    """Capacity left per institution after the proposal; -1 = unlimited."""
    used = np.bincount(cand.inst[chosen], minlength=problem.n_inst)
    return np.where(problem.capacity < 0, -1, problem.capacity - used)


def alternatives_of(
    instance: Instance, problem: Problem, cand: Candidates, chosen: np.ndarray, top: int = 5
) -> tuple[Alternative, ...]:
    """The ``top`` nearest candidates of each facility that the proposal did not pick."""
    left = remaining_capacity(problem, cand, chosen)
    picked = np.zeros(len(cand), bool)
    picked[chosen] = True
    start = cand.fac_start()
    rows = []
    for k in np.flatnonzero(np.diff(start)):
        rank = 0
        for p in range(start[k], start[k + 1]):
            if picked[p]:
                continue
            rank += 1
            i = int(cand.inst[p])
            rows.append(
                Alternative(
                    instance.facilities[k].facility_id,
                    rank,
                    instance.institutions[i].institution_id,
                    float(cand.km[p]),
                    int(cand.covers[p]),
                    None if left[i] < 0 else int(left[i]),
                )
            )
            if rank == top:
                break
    return tuple(rows)
