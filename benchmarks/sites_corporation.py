"""What sites (``matcher.sites``) and ``prefer_same_corporation`` change on the bundled sample.

The sample registry is imported into a throwaway store as ``make run`` does (see
``infection_preference.import_sample``) and area 39 is matched from the store's state:

1. sites: the default run (a site planned once) against ``count_site_registrations``;
2. same corporation: the sample's institutions carry no corporation (their registered names
   have no 医療法人… part), so the option changes nothing there; to measure what the level
   costs, a second pass gives every ``--every``-th institution (by id) the name of one of the
   facilities' corporations as a 医療法人 (a deterministic, stated scenario), and compares the
   default run with the option on: levels 1–4, partnerships within a corporation, real km.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from infection_preference import sample_state

from matcher.corporation import (
    facility_corporation,
    institution_corporation,
    same_corporation,
)
from matcher.match import match
from matcher.model import Instance
from matcher.params import MatchParams
from matcher.result import MatchResult
from matcher.sites import CORPORATE_NAME_KEY, site_groups


def same_corp_rows(instance: Instance, result: MatchResult) -> int:
    """Proposal rows whose facility and institution are of the same corporation."""
    fc = {f.facility_id: facility_corporation(f) for f in instance.facilities}
    ic = {i.institution_id: institution_corporation(i) for i in instance.institutions}
    return sum(same_corporation(fc[p.facility_id], ic[p.institution_id]) for p in result.proposals)


def line(name: str, r: MatchResult, extra: str = "") -> str:
    o = r.objective
    return (
        f"{name} | {o.mandatory_full} | {o.effort_full} | {o.pairs_covered} | {o.partnerships} | "
        f"{o.distance_km:.1f} | {len(r.proposals)} | {r.info.proven_optimal}{extra}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--every", type=int, default=3)
    ap.add_argument("--twin", type=int, default=4)
    args = ap.parse_args()
    state = sample_state()
    inst, forbidden = state.instance, state.forbidden
    groups = site_groups(inst.facilities)
    print(f"施設 {len(inst.facilities)}・医療機関 {len(inst.institutions)}")
    print(f"建物 (2登録以上) {len(groups)}、その登録 {sum(map(len, groups))}")
    print("run | 義務 | 努力義務 | 組 | 提携 | km | 提案行 | 証明")
    default = match(inst, MatchParams(), forbidden=forbidden)
    apart = match(inst, MatchParams(count_site_registrations=True), forbidden=forbidden)
    print(line("sites merged (default)", default))
    print(line("count_site_registrations", apart))

    # Scenario: every --twin-th 義務 facility gets a ユニット型 registration at its point.
    twins = [
        replace(f, facility_id=f"{f.facility_id}U", name=f"{f.name}(ユニット型)")
        for f in inst.facilities
        if f.info.duty.value == "mandatory" and f.missing
    ][:: args.twin]
    corp = {t.facility_id: f"S{k}" for k, t in enumerate(twins)}
    facs = [
        replace(f, extra={**f.extra, "site_id": corp[f.facility_id + "U"]})
        if f.facility_id + "U" in corp
        else f
        for f in inst.facilities
    ] + [replace(t, extra={**t.extra, "site_id": corp[t.facility_id]}) for t in twins]
    built = Instance.of(facs, inst.institutions)
    print(f"scenario: {len(twins)} buildings of two registrations (every {args.twin}th 義務)")
    print(line("sites merged (default)", match(built, MatchParams(), forbidden=forbidden)))
    apart = match(built, MatchParams(count_site_registrations=True), forbidden=forbidden)
    print(line("count_site_registrations", apart))

    on = match(inst, MatchParams(prefer_same_corporation=True), forbidden=forbidden)
    print(f"same corporation, sample as is: {same_corp_rows(inst, on)} rows of one corporation")

    names = sorted({f.extra.get(CORPORATE_NAME_KEY, "") for f in inst.facilities} - {""})
    insts = list(inst.institutions)
    for k in range(0, len(insts), args.every) if names else ():
        corp = names[k // args.every % len(names)].removeprefix("社会福祉法人")
        insts[k] = replace(
            insts[k], extra={**insts[k].extra, CORPORATE_NAME_KEY: "医療法人" + corp}
        )
    scenario = Instance(inst.facilities, tuple(insts))
    print(f"scenario: every {args.every}th institution in one of {len(names)} corporations")
    print("run | 義務 | 努力義務 | 組 | 提携 | km | 提案行 | 証明 | 同一法人の提案行")
    base = match(scenario, MatchParams(), forbidden=forbidden)
    pref = match(scenario, MatchParams(prefer_same_corporation=True), forbidden=forbidden)
    print(line("default", base, f" | {same_corp_rows(scenario, base)}"))
    print(line("prefer_same_corporation", pref, f" | {same_corp_rows(scenario, pref)}"))
    d = pref.objective.distance_km - base.objective.distance_km
    print(f"cost: {d:+.1f} km ({100 * d / base.objective.distance_km:+.1f}%)")


if __name__ == "__main__":
    main()
