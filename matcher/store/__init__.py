"""The store: facilities, institutions, filings, declarations, areas, runs and proposals in SQL.

SQLite file ``kyoryoku.db`` by default, PostgreSQL through ``KYORYOKU_DATABASE_URL``; the same
models and Alembic migrations serve both. The matching core never imports this package.

Entry points for the CLI and the web API:

- :func:`matcher.store.db.open_store` / :class:`matcher.store.db.Store` — engine, ``read()`` and
  ``write()`` sessions, ``upgrade()``;
- :mod:`matcher.store.imports` — idempotent upserts of facilities, institutions, filings and
  declarations;
- :mod:`matcher.store.areas` — areas and what belongs to them;
- :mod:`matcher.store.planning` — ``run_plan``, the one way to re-plan an area (its input from
  :mod:`matcher.store.planner_input`, its write in :mod:`matcher.store.run_write`);
- :mod:`matcher.store.proposal_commands` — propose by hand, change a proposal's status with a
  version check; :mod:`matcher.store.proposals` and :mod:`matcher.store.runs` — their reads;
- :mod:`matcher.store.export` — the current state as tables (CSV with BOM, Excel).
- :mod:`matcher.store.report_input` — a stored run rebuilt as the core's input and result (reports).
"""

from .errors import ConflictError, NotFoundError, StoreError, TransitionError

__all__ = ["ConflictError", "NotFoundError", "StoreError", "TransitionError"]
