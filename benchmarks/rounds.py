"""Rounds of letters and answers, measured (issue 23, item 7): how close does the loop — plan,
ask, answers come back, re-plan, ask again — get to the plan that knew every answer in advance?

``python benchmarks/rounds.py`` (defaults: 鳥取県・高知県・島根県, 400 facilities × 120
institutions each, seeds 1 and 2, p = 0.2, 3 rounds, the optimal planner, every strategy: about
five minutes; ``--modes greedy`` for nearest-first, ``--help`` for the rest).

The region: ``matcher.generate`` with every institution declaring a capacity scaled by
``--capacity`` (default 0.5: tight), imported into a throwaway SQLite store as one prefecture
area.

**Answers.** Each request (facility, institution) is declined with probability ``p``, decided
once per pair by a seeded hash, so that the simulation and the oracle see the same answers.
Every round goes through the product: ``store.planning.run_plan`` plans (honouring agreed and
declined pairs), ``store.replies.issue_links`` makes the round's letters (each asks only what
no earlier letter asked), and each institution answers its letter as a whole through
``store.replies.record_answer`` (受入可 → agreed, 不可 → declined). Facilities' letters are not
answered (a facility's wish does not change coverage).

**Measured per round:** the 義務 facilities fully covered (latest filing ∪ agreed) that were
not before the first round, as a share of the **oracle**'s — the optimum (``matcher.match``) on
the same region with every pair that would decline forbidden (its ``mandatory_full``); the
newly covered 努力義務 facilities; the letters (institution letters) and requests (their rows,
+ backups) sent. The oracle allows each facility ``max_new_partners`` once; rounds allow them
per round, so a later round may pass 100 %.

**Strategies** (``--strategies``):

- ``none``: the product as it is.
- ``backups``: after each round's plan, for the 義務 facilities the plan completes, a second
  institution is asked for a pair whose coverage hangs on one scarce pair — an institution in
  range that covers all the pair covers, proposed by hand (``proposal_commands.propose``, the
  planner's candidate rule; by default *conditional*: it needs no capacity left now, with the
  override reason saying so; ``--spare-only``: only where the plan left capacity). Pairs are
  taken scarcest first (fewest such alternatives, then the nearest), up to ``--backup-share``
  (default 0.3) × the round's requests. Answers in: the primary accepted → the backup is
  withdrawn; the primary declined and the backup accepted → agreed if the institution still has
  room, else withdrawn; a backup that declines is declined.
- ``reserve``: in the first ``--reserve-rounds`` (default 1) the proposals that complete no 義務
  facility are held back (withdrawn; the next run plans them again), so that their capacity
  stays free for the 義務 facilities' replacements (``scarce-reserve``: only those of
  institutions the plan fills).
- ``reserve+backups`` (and ``scarce-reserve+backups``): both.

**Measured** (2-core machine, 2026-12; mean (min) share of the oracle's newly covered 義務
facilities after rounds 1 / 2 / 3; requests in all rounds against ``none``):

- 400 × 120, seeds 3 and 4 (the strategies were tuned on seeds 1 and 2): ``none`` 69.8 / 88.2
  (79.5) / 90.8; ``backups`` 82.1 / 94.8 / 97.0 at 1.24× requests (share 0.2: 79.1 / 92.9 /
  95.6 at 1.16×); ``reserve`` 69.5 / 91.6 / 95.3 at 0.99×; ``reserve+backups`` 78.1 /
  **97.1** (91.2) / 98.8 at **1.18×** (1.04× letters).
- 800 × 240, seeds 5 and 6: ``none`` 76.3 / 94.1 (91.5) / 95.6; ``backups`` 85.9 / 99.0 /
  99.4 at 1.25× (share 0.2: 83.6 / 97.7 / 98.6 at 1.17×); ``reserve`` 75.9 / 93.8 / 96.7 at
  0.98×; ``reserve+backups`` 82.6 / **98.9** (96.1) / 99.5 at **1.17×** requests (1.04×
  letters).
- Nearest-first (``--modes greedy``, 400 × 120, seeds 1–4, no strategy): 34.9 / 45.5 / 48.0
  of the optimum's oracle — it does not put 義務 facilities first.

The price of ``reserve``: the 努力義務 facilities' requests go out one round later (newly
covered after round 2: 555 instead of 650 at 800 × 240; after round 3: 679 against 677).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import hashlib
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from matcher.generate import generate  # noqa: E402
from matcher.geo import haversine_km  # noqa: E402
from matcher.match import match  # noqa: E402
from matcher.model import FACILITY_KINDS, Instance  # noqa: E402
from matcher.params import MatchParams  # noqa: E402
from matcher.store.areas import save_area  # noqa: E402
from matcher.store.db import Store, open_store  # noqa: E402
from matcher.store.errors import StoreError  # noqa: E402
from matcher.store.imports import import_simple  # noqa: E402
from matcher.store.manual import LimitExceeded  # noqa: E402
from matcher.store.models import FacilityRow, InstitutionRow, ProposalRow  # noqa: E402
from matcher.store.planning import run_plan  # noqa: E402
from matcher.store.proposal_commands import propose, set_status  # noqa: E402
from matcher.store.replies import (  # noqa: E402
    LetterAnswer,
    RowAnswer,
    issue_links,
    letter_view,
    record_answer,
)
from matcher.store.state import facility_states, institution_states  # noqa: E402
from matcher.vocab import Duty, ProposalStatus, admissible_offers  # noqa: E402

Pair = tuple[str, str]
AREA = "bench"
ACTOR = "rounds"
TODAY = dt.date.today()


def declines(seed: int, p: float) -> Callable[[str, str], bool]:
    """Whether institution ``i`` declines facility ``f``: once per pair, seeded."""

    def declined(f: str, i: str) -> bool:
        digest = hashlib.sha256(f"{seed}|{f}|{i}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64 < p

    return declined


def region(prefecture: str, seed: int, n_fac: int, n_inst: int, capacity: float) -> Instance:
    """A tight region: every institution declares a capacity scaled by ``capacity``."""
    return generate(
        prefecture,
        seed=seed,
        n_facilities=n_fac,
        n_institutions=n_inst,
        capacity_factor=capacity,
        declared_share=1.0,
    )


def oracle(
    instance: Instance, params: MatchParams, mode: str, declined: Callable[[str, str], bool]
) -> int:
    """義務 facilities the plan that knew every answer completes (every pair that would decline
    forbidden)."""
    forbidden = {
        (f.facility_id, i.institution_id)
        for f in instance.facilities
        for i in instance.institutions
        if declined(f.facility_id, i.institution_id)
    }
    return match(instance, params, mode, forbidden=forbidden).objective.mandatory_full  # type: ignore[arg-type]


def open_region(folder: Path, instance: Instance) -> Store:
    store = open_store(f"sqlite:///{folder / 'rounds.db'}", upgrade=True)
    codes = sorted({f.municipality_code[:2] for f in instance.facilities})
    with store.write() as s:
        import_simple(s, instance.facilities, instance.institutions, 2025, TODAY)
        save_area(s, AREA, "rounds", "prefecture", codes)
    return store


def complete(store: Store, duty: Duty = Duty.MANDATORY) -> set[str]:
    """Facilities of ``duty`` with nothing missing (latest filing ∪ agreed)."""
    with store.read() as s:
        rows = list(s.query(FacilityRow))
        return {
            st.facility_id
            for st in facility_states(s, rows)
            if FACILITY_KINDS[st.row.kind].duty is duty and st.missing == 0
        }


def _planned(store: Store) -> tuple[list[ProposalRow], dict[str, object]]:
    """The proposals waiting to be asked, and each facility's state."""
    with store.read() as s:
        live = list(s.query(ProposalRow).filter_by(status=ProposalStatus.PROPOSED.value))
        states = {st.facility_id: st for st in facility_states(s, list(s.query(FacilityRow)))}
        s.expunge_all()
    return live, states


def _completes_mandatory(props: list[ProposalRow], st: object) -> bool:
    kind = FACILITY_KINDS[st.row.kind]  # type: ignore[attr-defined]
    planned = st.covered | sum(p.covers for p in props)  # type: ignore[attr-defined]
    return kind.duty is Duty.MANDATORY and not kind.required & ~planned


def reserve(store: Store, scarce_only: bool = False) -> int:
    """Hold back (withdraw, to be planned again next round) the proposals that complete no
    義務 facility — ``scarce_only``: only those of institutions the plan fills (no capacity
    left) — so that their capacity stays free for the 義務 facilities' replacements. How many."""
    live, states = _planned(store)
    by_fac: dict[str, list[ProposalRow]] = defaultdict(list)
    for p in live:
        by_fac[p.facility_id].append(p)
    full: set[str] = set()
    if scarce_only:
        with store.read() as s:
            rows = list(s.query(InstitutionRow))
            full = {
                iid
                for iid, st in institution_states(s, rows, TODAY).items()
                if st.remaining is not None and st.remaining <= 0
            }
    held = [
        p
        for fid, ps in by_fac.items()
        if not _completes_mandatory(ps, states[fid])
        for p in ps
        if not scarce_only or p.institution_id in full
    ]
    for p in held:
        with store.write() as s:
            set_status(s, p.id, "withdrawn", p.version, ACTOR, "次の回に回す (予備の受入枠)")
    return len(held)


@dataclasses.dataclass
class Round:
    letters: int
    requests: int
    backups: int
    held: int  # proposals held back for the next round (``reserve``)
    covered: int  # newly covered 義務 facilities after the round's answers
    effort: int  # newly covered 努力義務 facilities


def _answer_letters(
    store: Store, run_id: int, declined: Callable[[str, str], bool]
) -> tuple[int, int, set[Pair]]:
    """Issue the run's letters and answer every institution's as a whole; (letters, requests,
    the declined pairs)."""
    with store.write() as s:
        links = [x for x in issue_links(s, run_id, TODAY + dt.timedelta(days=14), ACTOR)]
    letters = requests = 0
    refused: set[Pair] = set()
    for link in links:
        if link.kind != "institution":
            continue
        with store.write() as s:
            view = letter_view(s, link.letter_id)
            rows = []
            for r in view.rows:
                no = declined(r.facility_id, r.institution_id)
                rows.append(RowAnswer(r.proposal_id, "decline" if no else "accept"))
                if no:
                    refused.add((r.facility_id, r.institution_id))
            record_answer(s, link.letter_id, LetterAnswer(tuple(rows)), "excel", ACTOR)
        letters += 1
        requests += len(rows)
    return letters, requests, refused


def _km(a: object, b: object) -> float:
    return float(haversine_km(a.lat, a.lon, b.lat, b.lon))  # type: ignore[attr-defined]


def _backups(
    store: Store,
    params: MatchParams,
    budget: int,
    facilities: dict[str, object],
    institutions: dict[str, object],
    conditional: bool,
) -> list[tuple[int, int]]:
    """Propose backups for the round's plan (module docstring); (primary id, backup id) pairs.
    ``conditional``: a backup needs no capacity left now (it is taken up only if the primary
    declines and the institution still has room when the answers are in)."""
    live, states = _planned(store)
    with store.read() as s:
        taken = {(p.facility_id, p.institution_id) for p in s.query(ProposalRow)}
        remaining = {
            iid: st.remaining
            for iid, st in institution_states(s, list(s.query(InstitutionRow)), TODAY).items()
        }

    def room(iid: str, used: int = 0) -> bool:
        left = remaining.get(iid)
        return conditional or left is None or left - used > 0

    by_fac: dict[str, list[ProposalRow]] = defaultdict(list)
    for p in live:
        by_fac[p.facility_id].append(p)
    options = []
    for fid, props in by_fac.items():
        if not _completes_mandatory(props, states[fid]):
            continue  # only 義務 facilities the plan completes
        f = facilities[fid]
        for p in props:
            alts = []
            for iid, inst in institutions.items():
                if iid == p.institution_id or (fid, iid) in taken or not room(iid):
                    continue
                km = _km(f, inst) * params.road_factor
                offers = admissible_offers(inst.kind, inst.offers)  # type: ignore[attr-defined]
                if params.reach(km) & offers & p.covers == p.covers:
                    alts.append((km, iid))
            if alts:
                options.append((len(alts), p.distance_km, p.id, fid, p.covers, sorted(alts)))
    options.sort()  # scarcest first: fewest alternatives, then the nearest primary
    out = []
    used: dict[str, int] = defaultdict(int)
    reason = "予備の依頼: 元の依頼が不可で、受入枠が残っているときだけ" if conditional else ""
    for _, _, pid, fid, covers, alts in options:
        if len(out) >= budget:
            break
        for _, iid in alts:
            if not room(iid, used[iid]):
                continue
            try:
                with store.write() as s:
                    b = propose(s, fid, iid, ACTOR, "予備の依頼", covers, reason)
                    out.append((pid, b.id))
                used[iid] += 1
                break
            except (LimitExceeded, StoreError):
                continue
    return out


def _settle_backups(
    store: Store, pairs: list[tuple[int, int]], declined: Callable[[str, str], bool]
) -> None:
    """The backups once the round's answers are in: declined; withdrawn (the primary accepted,
    or no room left); agreed (the primary declined, the backup accepted and fits)."""

    def move(pid: int, status: str, note: str) -> None:
        with store.write() as s:
            b = s.get(ProposalRow, pid)
            assert b is not None
            set_status(s, b.id, status, b.version, ACTOR, note)  # type: ignore[arg-type]

    wanted = []
    for primary, backup in pairs:
        with store.read() as s:
            p, b = s.get(ProposalRow, primary), s.get(ProposalRow, backup)
            assert p is not None and b is not None
            pair, primary_status = (b.facility_id, b.institution_id), p.status
        if declined(*pair):
            move(backup, "declined", "予備の依頼: 不可")
        elif primary_status != ProposalStatus.DECLINED.value:
            move(backup, "withdrawn", "予備の依頼: 元の依頼が受入可のため取り下げ")
        else:
            wanted.append((backup, pair[1]))
    for backup, iid in wanted:  # the ledger counts every backup still proposed, this one too
        with store.read() as s:
            inst = s.get(InstitutionRow, iid)
            left = institution_states(s, [inst], TODAY)[iid].remaining  # type: ignore[list-item]
        if left is None or left >= 0:
            move(backup, "agreed", "予備の依頼: 元の依頼が不可のため合意")
        else:
            move(backup, "withdrawn", "予備の依頼: 受入枠が残っていないため取り下げ")


def simulate(
    instance: Instance,
    params: MatchParams,
    mode: str,
    declined: Callable[[str, str], bool],
    rounds: int,
    backups: float,
    reserve_rounds: int = 0,
    conditional: bool = True,
    scarce_only: bool = False,
) -> list[Round]:
    facilities = {f.facility_id: f for f in instance.facilities}
    institutions = {i.institution_id: i for i in instance.institutions}
    with tempfile.TemporaryDirectory() as folder:
        store = open_region(Path(folder), instance)
        try:
            before = complete(store)
            before_effort = complete(store, Duty.EFFORT)
            out = []
            for k in range(rounds):
                report = run_plan(store, AREA, params, mode, actor=ACTOR)  # type: ignore[arg-type]
                assert report.run_id is not None
                held = reserve(store, scarce_only) if k < reserve_rounds else 0
                with store.read() as s:
                    new = s.query(ProposalRow).filter_by(status="proposed").count()
                extra: list[tuple[int, int]] = []
                if backups > 0 and new:
                    budget = int(backups * new)
                    extra = _backups(store, params, budget, facilities, institutions, conditional)
                letters, requests, _ = _answer_letters(store, report.run_id, declined)
                _settle_backups(store, extra, declined)
                covered = len(complete(store) - before)
                effort = len(complete(store, Duty.EFFORT) - before_effort)
                out.append(Round(letters, requests, len(extra), held, covered, effort))
        finally:
            store.dispose()
    return out


STRATEGIES = (
    "none",
    "backups",
    "reserve",
    "reserve+backups",
    "scarce-reserve",
    "scarce-reserve+backups",
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prefectures", nargs="+", default=["鳥取県", "高知県", "島根県"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[1, 2])
    ap.add_argument("--facilities", type=int, default=400)
    ap.add_argument("--institutions", type=int, default=120)
    ap.add_argument("--capacity", type=float, default=0.5, help="declared capacity factor (< 1)")
    ap.add_argument("--p", type=float, default=0.2, help="probability that a request declines")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--modes", nargs="+", default=["optimal"], help="optimal, greedy")
    ap.add_argument("--strategies", nargs="+", default=list(STRATEGIES), choices=STRATEGIES)
    ap.add_argument(
        "--backup-share", type=float, default=0.3, help="backups per round / the round's requests"
    )
    ap.add_argument(
        "--reserve-rounds", type=int, default=1, help="rounds that ask only what completes 義務"
    )
    ap.add_argument(
        "--spare-only",
        action="store_true",
        help="backups only where capacity is left after the plan (default: conditional backups)",
    )
    args = ap.parse_args()
    params = MatchParams()
    # (mode, strategy) → per run: shares by round, requests, letters, effort by round
    table: dict[tuple[str, str], list[tuple[list[float], int, int, list[int]]]] = defaultdict(list)
    for prefecture in args.prefectures:
        for seed in args.seeds:
            instance = region(prefecture, seed, args.facilities, args.institutions, args.capacity)
            declined = declines(seed, args.p)
            # the optimum that knew every answer: nearest-first is measured against it too
            best = oracle(instance, params, "optimal", declined)
            for mode in args.modes:
                for strategy in args.strategies:
                    t = time.perf_counter()
                    result = simulate(
                        instance,
                        params,
                        mode,
                        declined,
                        args.rounds,
                        args.backup_share if "backups" in strategy else 0.0,
                        args.reserve_rounds if "reserve" in strategy else 0,
                        not args.spare_only,
                        strategy.startswith("scarce"),
                    )
                    shares = [100.0 * r.covered / best if best else 100.0 for r in result]
                    requests = sum(r.requests + r.backups for r in result)
                    letters = sum(r.letters for r in result)
                    table[(mode, strategy)].append(
                        (shares, requests, letters, [r.effort for r in result])
                    )
                    print(
                        f"{prefecture} seed {seed} {mode:<7} {strategy:<15} oracle {best} 義務; "
                        + "; ".join(
                            f"r{k + 1}: {r.covered} ({s:.1f} %) 努力 {r.effort}, letters "
                            f"{r.letters}, requests {r.requests}+{r.backups} (held {r.held})"
                            for k, (r, s) in enumerate(zip(result, shares, strict=True))
                        )
                        + f"  [{time.perf_counter() - t:.1f} s]",
                        flush=True,
                    )
    print(
        "\nmean (min) share of the oracle's newly covered 義務 facilities by round; requests and "
        "letters sent in all rounds (ratio to no strategy); newly covered 努力義務 by round:"
    )
    for (mode, strategy), runs in sorted(table.items()):
        base = table.get((mode, "none"))
        rounds = range(args.rounds)
        mean = [statistics.mean(r[0][k] for r in runs) for k in rounds]
        low = [min(r[0][k] for r in runs) for k in rounds]
        requests, letters = sum(r[1] for r in runs), sum(r[2] for r in runs)
        ratio = requests / sum(r[1] for r in base) if base else float("nan")
        effort = [sum(r[3][k] for r in runs) for k in rounds]
        print(
            f"  {mode:<7} {strategy:<15} "
            + "  ".join(f"r{k + 1} {mean[k]:5.1f} ({low[k]:5.1f})" for k in rounds)
            + f"   requests {requests} ({ratio:.2f}×), letters {letters}, 努力 "
            + "/".join(str(e) for e in effort)
        )


if __name__ == "__main__":
    main()
