"""At most one declaration per institution is in force on any day, whatever is imported in
whatever order (``store.imports.import_declarations``): re-importing an older declaration
updates its content but keeps the end the newer one gave it, and each declaration just imported
is what is in force on its start day — on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from store_fixtures import DATABASES, fresh_store, inst

from matcher.store.db import Store
from matcher.store.imports import Declaration, import_declarations, import_institutions
from matcher.store.models import DeclarationRow
from matcher.store.state import current_declarations

START = dt.date(2025, 4, 1)


@pytest.fixture(scope="module", params=DATABASES)
def shared_store(request, tmp_path_factory) -> Iterator[Store]:
    """One store per database for every example (each example uses institutions of its own)."""
    with fresh_store(request.param, tmp_path_factory.mktemp("decl")) as store:
        yield store


def _content(d: Declaration | DeclarationRow) -> tuple[object, ...]:
    return (d.capacity, d.offers, bool(d.willing), d.infection_agreement)


def declarations(ids: list[str]) -> st.SearchStrategy[Declaration]:
    """Declarations of ``ids`` starting on one of a few days (so that starts repeat), mostly
    open-ended, some with an end of their own."""
    day = st.integers(0, 8).map(lambda k: START + dt.timedelta(days=10 * k))
    return st.builds(
        lambda iid, start, length, capacity, offers, willing, infection: Declaration(
            iid,
            start,
            capacity,
            offers,
            willing,
            None if length is None else start + dt.timedelta(days=length),
            "test",
            infection,
        ),
        st.sampled_from(ids),
        day,
        st.one_of(st.none(), st.none(), st.integers(0, 25)),
        st.one_of(st.none(), st.integers(0, 3)),
        st.one_of(st.none(), st.integers(1, 7)),
        st.booleans(),
        st.sampled_from([None, True, False]),
    )


def in_force_once(rows: list[DeclarationRow]) -> None:
    """On every day at most one declaration of each institution is in force (the predicate of
    ``current_declarations``). Which rows are in force changes only on a start or the day after
    an end, so those days (and the day before each) stand for every date."""
    by_inst: dict[str, list[DeclarationRow]] = {}
    for r in rows:
        by_inst.setdefault(r.institution_id, []).append(r)
    one = dt.timedelta(days=1)
    for iid, mine in by_inst.items():
        days = {r.valid_from for r in mine} | {r.valid_to + one for r in mine if r.valid_to}
        for day in days | {d - one for d in days}:
            on = [
                r for r in mine if r.valid_from <= day and (r.valid_to is None or r.valid_to >= day)
            ]
            assert len(on) <= 1, (iid, day, [(x.valid_from, x.valid_to) for x in mine])


def check_import(store: Store, ids: list[str], batch: list[Declaration]) -> None:
    with store.write() as s:
        import_declarations(s, batch)
    with store.read() as s:
        rows = list(s.scalars(select(DeclarationRow).where(DeclarationRow.institution_id.in_(ids))))
        in_force_once(rows)
        last = {(d.institution_id, d.valid_from): d for d in batch}
        for (iid, start), d in last.items():
            now = current_declarations(s, [iid], start).get(iid)
            assert now is not None and _content(now) == _content(d), (iid, start, d, now)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_one_declaration_in_force_after_any_imports(shared_store, data):
    tag = uuid.uuid4().hex[:8]
    ids = [f"H{tag}a", f"H{tag}b"]
    with shared_store.write() as s:
        import_institutions(s, [inst(i) for i in ids])
    batches = data.draw(st.lists(st.lists(declarations(ids), min_size=1, max_size=4), max_size=6))
    for batch in batches:
        check_import(shared_store, ids, batch)


def test_regression_reimporting_an_older_declaration_reopened_it(store):
    """The April declaration (3 places) was superseded in October (1 place); the April file
    read again — as it was, then corrected to 4 — must stay closed on 30 September."""
    with store.write() as s:
        import_institutions(s, [inst("H1")])
    april, october = dt.date(2025, 4, 1), dt.date(2025, 10, 1)
    check_import(store, ["H1"], [Declaration("H1", april, 3)])
    check_import(store, ["H1"], [Declaration("H1", october, 1)])
    check_import(store, ["H1"], [Declaration("H1", april, 3)])
    check_import(store, ["H1"], [Declaration("H1", april, 4)])
    with store.read() as s:
        rows = s.scalars(select(DeclarationRow).order_by(DeclarationRow.valid_from)).all()
        assert [(r.valid_from, r.valid_to, r.capacity) for r in rows] == [
            (april, october - dt.timedelta(days=1), 4),
            (october, None, 1),
        ]
        assert current_declarations(s, ["H1"], dt.date(2026, 1, 1))["H1"].capacity == 1
