"""Login throttling per account and per client address (``web_login_throttle``).

Each failed login counts against ``user:<name>`` and ``addr:<address>``. After ``free`` failures
(5 per account, 20 per address by default) every further failure locks that key for
``lock_seconds · 2^k`` (30 s, 60 s, 120 s … capped at ``lock_max_seconds``). While a key is
locked, logins are answered 429 with ``Retry-After`` before the password is hashed, so guessing
costs the server no argon2 work. Counts are forgotten an hour after the last failure; a
successful login clears the account's count (not the address's: one known account must not
unlock guessing at the others). Unknown user names are counted like known ones, so the answer
does not tell which accounts exist.

A stored table rather than process memory: every worker process sees the same counts. Locking an
account can be used to keep its owner out for up to ``lock_max_seconds``; the per-address limit
and the cap bound that, and the audit trail shows it.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from matcher.store.models import LoginThrottleRow, utcnow

FORGET_AFTER = dt.timedelta(hours=1)


@dataclass(frozen=True)
class ThrottlePolicy:
    """How many failures are free and how long the locks after them last."""

    account_free: int = 5
    address_free: int = 20
    lock_seconds: int = 30
    lock_max_seconds: int = 900

    def lock_for(self, failures: int, free: int) -> int:
        """Seconds of lock after the ``failures``-th failure (0: none yet)."""
        if failures < free:
            return 0
        return int(min(self.lock_max_seconds, self.lock_seconds * 2 ** min(failures - free, 20)))


def keys(username: str, address: str) -> tuple[str, str]:
    """The account's and the address's throttle keys."""
    return f"user:{username.strip().lower()[:100]}", f"addr:{address[:100]}"


def locked_for(session: Session, keys: Iterable[str]) -> int:
    """Seconds the longest lock among ``keys`` still lasts (0: none is locked)."""
    now = utcnow()
    rows = session.scalars(select(LoginThrottleRow).where(LoginThrottleRow.key.in_(list(keys))))
    waits = [(r.locked_until - now).total_seconds() for r in rows if r.locked_until is not None]
    return max(0, math.ceil(max(waits, default=0)))


def count_failure(session: Session, key: str, free: int, policy: ThrottlePolicy) -> int:
    """Count one failure against ``key`` (counts an hour old are forgotten first); the lock it
    starts (seconds, 0: none yet). Logins count ``user:``/``addr:`` keys, the public forms
    (``api.security.public``) ``reply:`` keys."""
    now = utcnow()
    session.execute(
        delete(LoginThrottleRow).where(LoginThrottleRow.last_failed_at < now - FORGET_AFTER)
    )
    row = session.get(LoginThrottleRow, key)
    if row is None:
        row = LoginThrottleRow(key=key, failures=0, last_failed_at=now)
        session.add(row)
    row.failures += 1
    row.last_failed_at = now
    seconds = policy.lock_for(row.failures, free)
    if seconds:
        row.locked_until = now + dt.timedelta(seconds=seconds)
    session.flush()
    return seconds


def retry_after(session: Session, username: str, address: str) -> int:
    """Seconds until a login for this account from this address may be tried (0: now)."""
    return locked_for(session, keys(username, address))


def failed(session: Session, username: str, address: str, policy: ThrottlePolicy) -> dict[str, int]:
    """Count a failed login; the locks it starts, by key (empty: none)."""
    account, addr = keys(username, address)
    locks = {
        key: count_failure(session, key, free, policy)
        for key, free in ((account, policy.account_free), (addr, policy.address_free))
    }
    return {key: seconds for key, seconds in locks.items() if seconds}


def succeeded(session: Session, username: str) -> None:
    """Clear the account's count after a successful login."""
    account, _ = keys(username, "")
    session.execute(delete(LoginThrottleRow).where(LoginThrottleRow.key == account))


class LoginThrottled(Exception):
    """Too many failed logins for this account or address: 429 with ``Retry-After``."""

    def __init__(self, seconds: int) -> None:
        self.seconds = max(1, int(seconds))
        super().__init__(
            f"ログインの失敗が続いたため、一時的にログインできません。{self.seconds} 秒後に"
            "もう一度お試しください"
        )
