"""Explanations for coordinators: outcome per facility, why a capability stays missing, alternatives."""

from __future__ import annotations

import numpy as np

from .candidates import Candidates, Problem
from .model import CAPABILITIES, Instance, status_of
from .objective import coverage_after
from .result import Alternative, FacilityOutcome, Proposal, Reason, Unmatched


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


def unmatched_of(
    instance: Instance, problem: Problem, cand: Candidates, chosen: np.ndarray, max_partners: int
) -> tuple[Unmatched, ...]:
    """One row per (facility, capability) still missing, with the reason (MODEL.md)."""
    got = coverage_after(problem, cand, chosen)
    offered = np.zeros(problem.n_fac, np.uint8)
    np.bitwise_or.at(offered, cand.fac, cand.covers)
    partners = np.bincount(cand.fac[chosen], minlength=problem.n_fac)
    rows = []
    for k, f in enumerate(instance.facilities):
        if f.missing and not problem.missing[k]:
            rows += [
                Unmatched(f.facility_id, int(c), "unknown_excluded")
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
                reason = "no_candidate"
            elif partners[k] >= max_partners:
                reason = "partner_limit"
            else:
                reason = "capacity"
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
