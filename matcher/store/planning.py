"""Planning an area: ``run_plan``, the one entry point (lock, read, solve, re-read, commit).

Also what it needs around the solve: the area stored on first use (``ensure_area``) and the
warm start from the area's previous plan (``previous_plan``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import time
from collections.abc import Callable, Iterable

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from ..match import Progress, match
from ..params import MatchParams, Mode
from ..result import MatchResult
from ..wareki import today as today_jp
from . import holds
from .areas import get_area, member_filter
from .cache import change_counters
from .db import Store
from .errors import NotFoundError
from .locks import area_lock, ledger_lock
from .models import (
    ACTIVE_STATUSES,
    AreaMunicipalityRow,
    AreaRow,
    FacilityRow,
    ProposalRow,
    RunProposalRow,
    utcnow,
)
from .planner_input import AreaState, Release, prepare
from .round_strategy import write_round
from .run_write import PlanReport, latest_run_id, preview_run, write_run
from .state import proposal_states


def ensure_area(session: Session, area_code: str) -> str:
    """The stored code of ``area_code``. A prefecture code (01–47), or a municipality code with
    facilities, that is not stored yet is stored now (insert-or-ignore: two runs creating it at
    once both succeed); anything else (``99``, a municipality without facilities, an unknown
    name) is a ``NotFoundError`` and nothing is created."""
    area = get_area(session, area_code, create=False)
    if area.id is not None:
        return area.code
    known_prefecture = area.kind == "prefecture" and 1 <= int(area.code) <= 47
    if not known_prefecture and (
        not 1 <= int(area.code[:2]) <= 47
        or not session.scalar(
            select(func.count())
            .select_from(FacilityRow)
            .where(member_filter(area, FacilityRow.code5))
        )
    ):
        raise NotFoundError(
            f"地域「{area_code}」は登録されておらず、該当する施設もありません "
            "(都道府県コード2桁・市区町村コードを確認するか、`kyoryoku db area` で登録してください)"
        )
    ins = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(
        ins(AreaRow)
        .values(code=area.code, name=area.name, kind=area.kind, created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["code"])
    )
    area_id = session.scalar(select(AreaRow.id).where(AreaRow.code == area.code))
    for m in area.municipalities:
        session.execute(
            ins(AreaMunicipalityRow).values(area_id=area_id, code=m.code).on_conflict_do_nothing()
        )
    session.expire_all()
    return area.code


def previous_plan(session: Session, area_code: str) -> frozenset[tuple[str, str]]:
    """The (facility_id, institution_id) pairs of the area's latest run that are still live
    (proposed, contacted or agreed now): the warm start of its next run (``match(previous=)``).
    Empty before the first run."""
    area_id = session.scalar(select(AreaRow.id).where(AreaRow.code == area_code))
    run_id = None if area_id is None else latest_run_id(session, area_id)
    if run_id is None:
        return frozenset()
    ps = proposal_states()
    rows = session.execute(
        select(ps.c.facility_id, ps.c.institution_id)
        .join(RunProposalRow, RunProposalRow.proposal_id == ps.c.id)
        .where(RunProposalRow.run_id == run_id, ps.c.status.in_(ACTIVE_STATUSES))
    )
    return frozenset((str(f), str(i)) for f, i in rows)


def _warm_start(session: Session, area_code: str, warm: bool) -> frozenset[tuple[str, str]] | None:
    """What a run starts the solver from: the area's previous plan (``None``: a cold start)."""
    return (previous_plan(session, area_code) or None) if warm else None


def _read_mark(session: Session, on: dt.date | None) -> tuple[object, ...]:
    """What the state a run plans from (``prepare``) depends on, as a value to compare: the
    change counters of the registry and the proposals (``cache.change_counters``) and the day.
    Equal marks: the state read under the first one still holds."""
    counters = change_counters(session, ("registry", "proposals"))
    return tuple(sorted(counters.items())), on or today_jp()


def run_plan(
    store: Store,
    area_code: str,
    params: MatchParams | None = None,
    mode: Mode = "optimal",
    actor: str = "",
    release: Iterable[int] = (),
    note: str = "",
    on: dt.date | None = None,
    progress: Progress | None = None,
    lock_wait: float | None = None,
    replans: int = 2,
    before_commit: Callable[[int], None] | None = None,
    dry_run: bool = False,
    warm_start: bool = True,
    replace_other_areas: bool = False,
) -> PlanReport:
    """Re-plan an area and store the run, its proposals and their history — the one way to plan
    (the CLI's ``run``, the web's runs, scripts and tests) — the way a team works: one run of the
    area at a time, no transaction held while solving, decisions re-read at commit. Each step
    opens its own transactions on ``store``.

    1. Take the area's run lock (``matcher.store.locks``), waiting at most ``lock_wait`` seconds
       for a run in progress (then ``RunInProgressError``); runs of an area thus form one chain.
    2. Read the state in a short transaction and solve with no transaction open, so coordinators
       keep changing proposals meanwhile.
    3. In the commit transaction read the state again — unless the store's change counters
       (registry, proposals) say nobody committed anything since it was read, when it is still
       the state now. If decisions changed during the solve
       (declined, contacted, agreed, imports), solve again from the new state, at most
       ``replans`` times; after that, store the plan without the pairs declined meanwhile (their
       facilities are reported in ``PlanReport.unplanned``) and keep pairs contacted or agreed
       meanwhile as they are. Nothing declined is ever proposed again.

    ``release`` names contacted (or proposed) proposals the coordinator gives up before the run:
    they become ``withdrawn`` (with ``note`` in their history) and their pairs may be proposed
    again. Contacted proposals that became impossible are withdrawn too, with the reason in their
    history (``planner_input.impossible_contacted``).

    ``before_commit(attempt)`` is called after each solve, before the commit (tests use it to
    change decisions at that exact moment).

    ``dry_run`` computes the same report (with each changed proposal's history note in
    ``notes``) in a savepoint that is rolled back: nothing is stored, the ids of the run and of
    new proposals are provisional (the preview of the web's run page).

    ``replace_other_areas``: a run that would withdraw proposals made by another area's run (a
    wider or overlapping area holding some of the same facilities) stores nothing and raises
    ``OtherAreaProposalsError`` unless this says the coordinator confirmed it (the dry run's
    ``PlanReport.other_areas`` says which runs and how many proposals, for the preview).

    ``params.round_strategy`` says how the run's requests go out (``round_strategy.write_round``):
    ``reserve`` leaves out the new requests that complete no 義務 facility, ``backups`` adds
    条件付き依頼 to the run; ``none`` stores the plan as solved.

    Under a ``hold`` strategy with held answers in the area (``matcher.store.holds``) the first
    read also plans as if they were released: both are solved, ``holds.releases`` says which
    held answers the run releases (withdrawn by it, with ``holds.RELEASE_NOTE``), and the run
    plans from the state without them (the kept plan as it is when it releases none).

    ``warm_start`` seeds the first solve with the area's previous plan (``previous_plan``: the
    same objective values in a fraction of the time) and each re-solve with the plan just
    computed; ``False`` solves from scratch (benchmarks).
    """
    params = params or MatchParams()
    release = list(release)
    started = utcnow()
    with store.write() as s:
        code = ensure_area(s, area_code)
    if progress:
        progress("wait", 0, 0)
    with area_lock(store, code, lock_wait):
        t0 = time.perf_counter()
        let_go: set[int] = set()  # held answers the run releases (``holds.releases``)

        def read(s: Session) -> tuple[AreaState, list[Release]]:
            """``prepare`` with the coordinator's ``release`` and the held answers let go
            (those still 打診中: one decided meanwhile is no longer the run's to release)."""
            live = {
                int(i)
                for i in s.scalars(
                    select(ProposalRow.id).where(
                        ProposalRow.id.in_(sorted(let_go)), ProposalRow.status == "contacted"
                    )
                )
            }
            st, rel = prepare(s, code, params, on, [*release, *sorted(live - set(release))], note)
            return st, [
                dataclasses.replace(r, reason=holds.RELEASE_NOTE, by_run=True)
                if r.proposal_id in let_go and r.proposal_id not in release
                else r
                for r in rel
            ]

        with store.write() as s:
            seen = _read_mark(s, on)
            state, releases = read(s)
            previous = _warm_start(s, code, warm_start)
            held = {}
            if params.uses(holds.MEASURE):
                held = {
                    pid: pair
                    for pid, pair in holds.held_in_area(s, code).items()
                    if pid not in release
                }
            if held:
                free_state, _ = prepare(s, code, params, on, [*release, *held], note)
        seconds = {"load": time.perf_counter() - t0}

        def solve(st: AreaState, warm: frozenset[tuple[str, str]] | None) -> MatchResult:
            return match(
                st.instance, params, mode, None, progress, forbidden=st.forbidden, previous=warm
            )

        first: MatchResult | None = None
        if held:  # the re-plan tried with the held answers kept and released
            kept = solve(state, previous)
            free = solve(free_state, previous)
            out, took_free = holds.releases(held, state.instance, kept, free_state.instance, free)
            if out:
                let_go.update(out)
                if warm_start and took_free:
                    previous = frozenset((p.facility_id, p.institution_id) for p in free.proposals)
                with store.write() as s:
                    seen = _read_mark(s, on)
                    state, releases = read(s)
            else:
                first = kept

        for attempt in range(replans + 1):
            result = first if attempt == 0 and first is not None else solve(state, previous)
            if before_commit is not None:
                before_commit(attempt)
            if progress:
                progress("commit", 0, 0)
            t1 = time.perf_counter()
            with store.write() as s:
                ledger_lock(s)  # the ledger read below stays true until this commits
                mark = _read_mark(s, on)
                if mark == seen:  # nobody committed a change since it was read: the
                    now_state, now_releases = state, releases  # state read then is the state now
                else:
                    now_state, now_releases = read(s)
                if now_state.input_hash != state.input_hash:
                    if warm_start:  # the plan just computed is the closest one
                        previous = frozenset(
                            (p.facility_id, p.institution_id) for p in result.proposals
                        )
                    if attempt < replans:
                        state, releases, seen = now_state, now_releases, mark
                        continue
                    # Re-plans used up: solve once more inside the commit transaction, under
                    # the ledger lock, so the stored plan never promises capacity taken meanwhile.
                    state = now_state
                    result = solve(state, previous)
                seconds["commit"] = time.perf_counter() - t1
                seconds["replans"] = attempt
                plan = functools.partial(
                    write_run, s, code, params, mode, actor, note, now_state, now_releases
                )
                # the plan written under the run's ``round_strategy`` (``none``: as planned)
                write = functools.partial(write_round, s, params, actor, now_state, result)
                if dry_run:  # rolled back: it says which other areas' runs instead of refusing
                    return preview_run(
                        s,
                        now_releases,
                        functools.partial(
                            write,
                            functools.partial(
                                plan, started=started, seconds={}, replace_other_areas=True
                            ),
                        ),
                    )
                return write(
                    functools.partial(
                        plan,
                        started=started,
                        seconds=seconds,
                        replace_other_areas=replace_other_areas,
                    )
                )
    raise AssertionError("unreachable")  # pragma: no cover
