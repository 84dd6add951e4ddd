"""Errors the store raises on purpose: conflicts, unknown objects, forbidden status changes, and
database or file-system failures translated into one Japanese line each.

``exit_code`` is what the command line exits with (2 = bad input or unknown object, as elsewhere);
the web answers 409/422/404 for the first group and 503 for ``DatabaseError`` and ``RunInProgress``.
"""

from __future__ import annotations

from .._errors import MatcherError


class StoreError(MatcherError):
    """Base of the store's errors."""

    exit_code = 4


class NotFoundError(StoreError, LookupError):
    """An id that is not in the store (web API: 404)."""

    exit_code = 2


class ConflictError(StoreError):
    """Someone else changed the object since it was read (web API: 409).

    ``expected`` is the version the caller had, ``actual`` the version in the store.
    """

    exit_code = 3

    def __init__(
        self, message: str, expected: int | None = None, actual: int | None = None
    ) -> None:
        self.expected, self.actual = expected, actual
        super().__init__(message)


class OtherAreaProposalsError(ConflictError):
    """A run would withdraw proposals another area's run made (its facilities overlap): it needs
    the coordinator's confirmation (web: 409; ``replace_other_areas``)."""

    def __init__(self, runs: dict[int, str], count: int) -> None:
        self.runs, self.count = runs, count
        super().__init__(
            f"この計算は{'、'.join(runs.values())} の提案 {count} 件を取り下げます。"
            "よければ「他の地域の提案も取り下げる」を選んで (コマンドでは --replace-other-areas) "
            "もう一度実行してください"
        )


class TransitionError(StoreError, ValueError):
    """A status change that the proposal lifecycle does not allow (web API: 422)."""

    exit_code = 2


class SchemaOutdatedError(StoreError):
    """The database's migrations are not applied (run ``kyoryoku db upgrade``; web: 503)."""

    exit_code = 2


class RunInProgressError(StoreError):
    """Another run of the same area holds the area's lock beyond the waiting time (web: 503)."""

    exit_code = 5


class DatabaseError(StoreError):
    """The database or the file system failed (web: 503); the message is one Japanese line."""

    exit_code = 6


class DatabaseUnavailableError(DatabaseError):
    """The database cannot be reached, does not exist, or refuses the login."""

    exit_code = 7


class DatabaseBusyError(DatabaseError):
    """The database stayed locked by other writers beyond the busy timeout and the retries."""

    exit_code = 8


class StorageFullError(DatabaseError):
    """The disk (or the database's quota) is full."""

    exit_code = 9


class ReadOnlyError(DatabaseError):
    """The database file or its folder cannot be written (permissions, read-only medium)."""

    exit_code = 10
