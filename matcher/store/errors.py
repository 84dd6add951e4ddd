"""Errors the store raises on purpose: conflicts, unknown objects, forbidden status changes."""

from __future__ import annotations

from .._errors import MatcherError


class StoreError(MatcherError):
    """Base of the store's errors."""


class NotFoundError(StoreError, LookupError):
    """An id that is not in the store (web API: 404)."""


class ConflictError(StoreError):
    """Someone else changed the object since it was read (web API: 409).

    ``expected`` is the version the caller had, ``actual`` the version in the store.
    """

    def __init__(
        self, message: str, expected: int | None = None, actual: int | None = None
    ) -> None:
        self.expected, self.actual = expected, actual
        super().__init__(message)


class TransitionError(StoreError, ValueError):
    """A status change that the proposal lifecycle does not allow (web API: 422)."""
