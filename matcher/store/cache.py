"""The read cache the scoped reads accept: any object with ``get(key, compute)``.

The web's ``api.cache.ReadCache`` (values kept until the store changes) is one; ``NO_CACHE``
computes every value each time (CLI, tests, other callers).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Protocol, TypeVar

T = TypeVar("T")


class ValueCache(Protocol):
    """``get(key, compute)``: the value of ``key``, computed by ``compute()`` when not cached.
    ``patch(old, facility_ids)``, if given, may bring a cached value up to date instead when only
    those facilities' proposals changed (a cache may ignore it).

    Values are shared between callers: they must not be mutated.
    """

    def get(
        self,
        key: Hashable,
        compute: Callable[[], T],
        patch: Callable[[T, frozenset[str]], T] | None = None,
    ) -> T: ...


class _NoCache:
    def get(
        self,
        key: Hashable,
        compute: Callable[[], T],
        patch: Callable[[T, frozenset[str]], T] | None = None,
    ) -> T:
        del key, patch
        return compute()


NO_CACHE: ValueCache = _NoCache()
