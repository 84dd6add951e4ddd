"""A throwaway PostgreSQL database for a benchmark run (server: ``KYORYOKU_TEST_PG_URL``)."""

from __future__ import annotations

import os
import random
from collections.abc import Callable

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from matcher.settings import get_settings


def throwaway_postgres(prefix: str) -> tuple[str, Callable[[], None]]:
    """(URL of a new empty database, how to drop it). Raises when the server does not answer."""
    base = get_settings().test_pg_url
    name = f"{prefix}_{os.getpid()}_{random.randrange(10**6)}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as c:
            c.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :d AND pid <> pg_backend_pid()"
                ),
                {"d": name},
            )
            c.execute(text(f'DROP DATABASE "{name}"'))
        admin.dispose()

    return make_url(base).set(database=name).render_as_string(hide_password=False), drop
