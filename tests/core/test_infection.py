"""第二種協定指定医療機関 in the core: the flags, the preference option (a km discount the solvers
see, never a change of range, coverage, levels 1–4 or reported km) and the earlier-year
generator of the progress sample."""

from __future__ import annotations

import dataclasses

import pytest
from conftest import fac, inst

from matcher.filing_years import earlier_year
from matcher.infection import has_infection_partner, infection_ids, preferred_candidates
from matcher.match import candidate_graph, match
from matcher.model import Instance, Status, status_of
from matcher.params import MatchParams


def flagged(i, value: bool = True):
    return dataclasses.replace(i, extra={"infection_agreement": "true" if value else "false"})


def tiny(far_flagged: bool = True) -> Instance:
    """A group home needing ①②: a plain hospital 3 km east, a 第二種協定 one 5 km north."""
    return Instance.of(
        [fac("F", "gh", 0, 0)],
        [
            inst("H_near", "hospital", 0, 3, 7),
            flagged(inst("H_far", "hospital", 5, 0, 7), far_flagged),
        ],
    )


def test_flags_are_read_from_extra() -> None:
    i = tiny()
    assert infection_ids(i.institutions) == {"H_far"}
    f = dataclasses.replace(fac("F", "gh", 0, 0), extra={"partner_ids": "X+H_far"})
    assert has_infection_partner(f, frozenset({"H_far"}))
    assert not has_infection_partner(f, frozenset({"H_near"}))
    assert has_infection_partner(dataclasses.replace(f, extra={"infection_partner": "true"}))


@pytest.mark.parametrize("mode", ["optimal", "greedy", "stable"])
def test_the_discount_picks_the_agreement_hospital_and_reports_real_km(mode: str) -> None:
    plain = match(tiny(), MatchParams(), mode)
    assert [p.institution_id for p in plain.proposals] == ["H_near"]
    weak = match(tiny(), MatchParams(prefer_infection_agreement=0.3), mode)  # 5 × 0.7 > 3
    assert [p.institution_id for p in weak.proposals] == ["H_near"]
    strong = match(tiny(), MatchParams(prefer_infection_agreement=0.5), mode)  # 5 × 0.5 < 3
    assert [p.institution_id for p in strong.proposals] == ["H_far"]
    assert strong.proposals[0].distance_km == pytest.approx(5.0, abs=0.01)
    assert strong.objective.distance_km == pytest.approx(5.0, abs=0.01)


def test_without_flags_the_option_changes_nothing() -> None:
    a = match(tiny(far_flagged=False), MatchParams())
    b = match(tiny(far_flagged=False), MatchParams(prefer_infection_agreement=0.5))
    assert a.proposals == b.proposals and a.objective == b.objective


def test_the_view_is_a_permutation_of_the_true_graph(kochi_small: Instance) -> None:
    insts = [flagged(i) if k % 3 == 0 else i for k, i in enumerate(kochi_small.institutions)]
    instance = Instance.of(kochi_small.facilities, insts)
    params = MatchParams(prefer_infection_agreement=0.4)
    _, cand = candidate_graph(instance, params)
    view, back = preferred_candidates(instance, cand, params.prefer_infection_agreement)
    assert sorted(back.tolist()) == list(range(len(cand)))
    assert (cand.fac[back] == view.fac).all() and (cand.inst[back] == view.inst).all()
    assert (cand.covers[back] == view.covers).all()
    assert (view.km <= cand.km[back] + 1e-12).all()


def test_optimal_levels_one_to_four_do_not_move(kochi_small: Instance) -> None:
    insts = [flagged(i) if k % 3 == 0 else i for k, i in enumerate(kochi_small.institutions)]
    instance = Instance.of(kochi_small.facilities, insts)
    ids = infection_ids(insts)
    base = match(instance, MatchParams())
    pref = match(instance, MatchParams(prefer_infection_agreement=0.5))
    assert base.info.proven_optimal and pref.info.proven_optimal
    key = lambda o: (o.mandatory_full, o.effort_full, o.pairs_covered, o.partnerships)  # noqa: E731
    assert key(pref.objective) == key(base.objective)
    assert pref.objective.distance_km >= base.objective.distance_km - 1e-6
    count = lambda r: sum(p.institution_id in ids for p in r.proposals)  # noqa: E731
    assert count(pref) >= count(base)


def test_params_validate_and_round_trip() -> None:
    with pytest.raises(ValueError, match="prefer_infection_agreement は 0 以上 1 未満"):
        MatchParams(prefer_infection_agreement=1.0)
    assert "prefer_infection_agreement" not in MatchParams().to_dict()  # default runs unchanged
    p = MatchParams(prefer_infection_agreement=0.25)
    assert MatchParams.from_dict(p.to_dict()) == p


def test_earlier_year_is_deterministic_and_never_better(kochi_small: Instance) -> None:
    before = earlier_year(kochi_small)
    assert before == earlier_year(kochi_small)
    assert before != earlier_year(kochi_small, seed=2)
    rank = {Status.ALL: 4, Status.PARTIAL: 3, Status.NONE: 2, Status.NO_PARTNER: 1}
    changed = 0
    for now, then in zip(kochi_small.facilities, before.facilities, strict=True):
        s_now = status_of(now.required, now.covered, now.has_partner)
        s_then = status_of(then.required, then.covered, then.has_partner)
        if s_now is Status.UNKNOWN:
            assert s_then is Status.UNKNOWN
        elif s_then is not Status.UNKNOWN:
            assert rank[s_then] <= rank[s_now]
            assert then.covered & ~now.covered == 0
        changed += then != now
    assert 0 < changed < len(kochi_small.facilities)
