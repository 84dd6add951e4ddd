"""Instances with sites against the independent CP-SAT formulation (on the merged problem the
solvers see: one row per site)."""

from __future__ import annotations

from dataclasses import replace

import pytest

pytest.importorskip("ortools.sat.python.cp_model")

from test_solver_independent import cpsat_lexicographic  # noqa: E402

from matcher.generate import generate  # noqa: E402
from matcher.match import match, planning_graph  # noqa: E402
from matcher.model import Instance  # noqa: E402
from matcher.params import MatchParams  # noqa: E402


def with_twins(instance: Instance, every: int) -> Instance:
    """Every ``every``-th facility in demand gets a second registration at its point (another
    kind, same ``site_id``)."""
    facs = list(instance.facilities)
    demand = [k for k, f in enumerate(facs) if f.missing][::every]
    for n, k in enumerate(demand):
        f = facs[k]
        sid = {"site_id": f"S{n}"}
        facs[k] = replace(f, extra={**f.extra, **sid})
        kind = "gh" if f.info.duty.value == "mandatory" else "tokuyo"
        twin = replace(f, facility_id=f"{f.facility_id}U", kind=kind, covered=0, extra=sid)
        facs.append(twin)
    return Instance.of(facs, instance.institutions)


@pytest.mark.parametrize("seed,partners", [(41, 1), (42, 2), (43, 2), (44, 3)])
def test_sites_match_cpsat(seed: int, partners: int) -> None:
    base = generate("高知県", n_facilities=45, n_institutions=25, seed=seed, capacity_factor=0.3)
    instance = with_twins(base, 3)
    params = MatchParams(max_new_partners=partners)
    _, _, plan = planning_graph(instance, params)
    assert plan is not None
    result = match(instance, params)
    assert result.info.proven_optimal
    got = result.objective
    ref = cpsat_lexicographic(plan.problem, plan.merged, partners)
    assert (got.mandatory_full, got.effort_full, got.pairs_covered, got.partnerships) == ref[:4]
    assert abs(got.distance_km * 1000 - ref[4]) <= 0.5 * got.partnerships + 1e-6
