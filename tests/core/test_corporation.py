"""Same corporation (``matcher.corporation``): the rule, and the level checked by brute force."""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np
import pytest
from conftest import problem_and_candidates
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import instances

from matcher.corporation import (
    corporation_key,
    institution_corporation,
    same_corporation,
    same_corporation_pairs,
)
from matcher.match import match
from matcher.model import Instance, Institution, InstitutionKind
from matcher.objective import evaluate
from matcher.params import MatchParams


@pytest.mark.parametrize(
    ("name", "whole", "key"),
    [
        ("社会福祉法人よさこい会", True, "よさこい会"),
        ("医療法人　よさこい會", True, "よさこい会"),  # full-width space, 旧字体
        ("医療法人社団 明和会 山田医院", False, "明和会"),
        ("医療法人社団明和会山田医院", False, "明和会"),
        ("社会医療法人 近森会 近森病院", False, "近森会"),
        ("高知市さくら病院", False, ""),  # no corporate form: no corporation from the name
    ],
)
def test_corporation_key(name: str, whole: bool, key: str) -> None:
    assert corporation_key(name, whole) == key


def test_declared_corporation_wins_over_the_name() -> None:
    i = Institution(
        "I", "医療法人A会 B病院", InstitutionKind.HOSPITAL, 0, 0, 7,
        extra={"corporate_name": "社会医療法人C会", "corporate_number": "12"},
    )  # fmt: skip
    assert institution_corporation(i) == ("12", "C会")
    assert same_corporation(("12", ""), ("12", "X会"))
    assert not same_corporation(("", ""), ("", ""))


CORPS = ["A会", "B会", ""]


@st.composite
def corporate_instances(draw: st.DrawFn) -> Instance:
    base = draw(instances(max_facilities=3, max_institutions=3))
    corp = st.lists(st.sampled_from(CORPS), min_size=3, max_size=3)
    fc, ic = draw(corp), draw(corp)
    facs = [
        replace(f, extra={"corporate_name": f"社会福祉法人{c}"} if c else {})
        for f, c in zip(base.facilities, fc, strict=False)
    ]
    insts = [
        replace(i, name=f"医療法人{c} {i.name}" if c else i.name)
        for i, c in zip(base.institutions, ic, strict=False)
    ]
    return Instance.of(facs, insts)


def _feasible(problem, cand, max_partners):  # type: ignore[no-untyped-def]
    start = cand.fac_start()
    per_fac = []
    for f in np.flatnonzero(problem.missing):
        pairs = list(range(start[f], start[f + 1]))
        per_fac.append(
            [c for k in range(max_partners + 1) for c in itertools.combinations(pairs, k)]
        )
    limited = problem.capacity >= 0
    for combo in itertools.product(*per_fac):
        chosen = np.array([p for opt in combo for p in opt], np.int64)
        used = np.bincount(cand.inst[chosen], minlength=problem.n_inst)
        if not (used[limited] > problem.capacity[limited]).any():
            yield chosen


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(corporate_instances(), st.integers(1, 2))
def test_same_corporation_level_matches_brute_force(instance: Instance, max_partners: int) -> None:
    params = MatchParams(max_new_partners=max_partners, prefer_same_corporation=True)
    problem, cand = problem_and_candidates(instance, params)
    same = same_corporation_pairs(instance.facilities, instance.institutions, cand)
    best = None
    for chosen in _feasible(problem, cand, max_partners):
        obj = evaluate(problem, cand, chosen)
        key = (obj.key()[:4], -int(np.count_nonzero(~same[chosen])), -obj.distance_km)
        if best is None or key > best[0]:
            best = (key, obj)
    assert best is not None
    result = match(instance, params)
    assert result.objective.key()[:4] == best[1].key()[:4]
    fpos = {f.facility_id: k for k, f in enumerate(instance.facilities)}
    ipos = {i.institution_id: k for k, i in enumerate(instance.institutions)}
    across = sum(
        not same[
            np.flatnonzero(
                (cand.fac == fpos[p.facility_id]) & (cand.inst == ipos[p.institution_id])
            )[0]
        ]
        for p in result.proposals
    )
    assert -across == best[0][1]
    assert result.objective.distance_km == pytest.approx(best[1].distance_km, abs=1e-6)
    # Off (the default) the same instance gives the plain optimum's levels.
    plain = match(instance, MatchParams(max_new_partners=max_partners))
    assert plain.objective.key()[:4] == result.objective.key()[:4]
    assert plain.objective.distance_km <= result.objective.distance_km + 1e-6


def test_prefers_the_same_corporation_at_a_km_cost() -> None:
    from conftest import fac, inst

    f = replace(fac("F", "gh", 0, 0), extra={"corporate_name": "社会福祉法人A会"})
    near = inst("I1", "clinic", 1, 0, 3, None)
    far = replace(inst("I2", "clinic", 5, 0, 3, None), name="医療法人A会 I2診療所")
    instance = Instance.of([f], [near, far])
    assert [p.institution_id for p in match(instance).proposals] == ["I1"]
    on = match(instance, MatchParams(prefer_same_corporation=True))
    assert [p.institution_id for p in on.proposals] == ["I2"]
    assert on.counts["same_corporation_partnerships"] == 1
    assert on.objective.distance_km == pytest.approx(5.0, abs=1e-3)  # the real km
