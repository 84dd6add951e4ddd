"""The unit of work a use case runs in: the store (short read and write transactions) and the
read cache its reads go through."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy.orm import Session

from ..store.cache import NO_CACHE, ValueCache
from ..store.db import Store


@dataclass(frozen=True)
class UnitOfWork:
    """``read()`` and ``write()`` open one transaction each (``write`` commits at the end, or
    rolls back on an error); ``cache`` serves repeated reads until the store changes
    (``NO_CACHE``: always read)."""

    store: Store
    cache: ValueCache = NO_CACHE

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self.store.read() as s:
            yield s

    @contextmanager
    def write(self) -> Iterator[Session]:
        with self.store.write() as s:
            yield s
