"""The errors a use case raises, in one place for the adapters that map them (the web answers
403, 404, 409, 422 or 503; ``api.errors``)."""

from __future__ import annotations

from .._errors import InputError, MatcherError
from ..store.errors import (
    ConflictError,
    NotFoundError,
    OtherAreaProposalsError,
    RunInProgressError,
    StoreError,
    TransitionError,
)
from ..store.manual import LimitExceeded
from .actor import NotAllowedError

__all__ = [
    "ConflictError",
    "InputError",
    "LimitExceeded",
    "MatcherError",
    "NotAllowedError",
    "NotFoundError",
    "OtherAreaProposalsError",
    "RunInProgressError",
    "StoreError",
    "TransitionError",
]
