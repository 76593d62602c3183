"""Throttling of failed attempts per account (log-in, password change), beside the edge's
per-address limit, and at most one password check per account at a time (one_at_a_time).

An attacker who spreads guesses over many addresses still meets this limit: after
FAILURES_ALLOWED failures within WINDOW, the account takes one attempt per LOCK_SECONDS. It cannot
be used to lock the real user out: the pause is short, a success clears it, and a browser that has
signed in to the account before carries a device cookie that has a counter of its own (OWASP's
"device cookies"), so the attacker's failures never hold it back.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

FAILURES_ALLOWED = 5
WINDOW = timedelta(minutes=15)
LOCK_SECONDS = 30

_RECORD_FAILURE = text(
    """
    INSERT INTO auth_throttle AS t (key, failures, window_started_at, blocked_until)
    VALUES (:key, 1, now(), NULL)
    ON CONFLICT (key) DO UPDATE SET
        failures = CASE WHEN t.window_started_at < now() - :window THEN 1 ELSE t.failures + 1 END,
        window_started_at = CASE WHEN t.window_started_at < now() - :window
                                 THEN now() ELSE t.window_started_at END,
        blocked_until = CASE WHEN t.window_started_at >= now() - :window
                                  AND t.failures + 1 > :allowed
                             THEN now() + :lock ELSE NULL END
    """
)
_RETRY_AFTER = text(
    "SELECT ceil(extract(epoch FROM blocked_until - now()))::int FROM auth_throttle "
    "WHERE key = :key AND blocked_until > now()"
)


async def retry_after(session: AsyncSession, *, key: str) -> int:
    """Seconds before `key` may try again; 0 when it may try now."""
    return max(0, await session.scalar(_RETRY_AFTER, {"key": key}) or 0)


async def record_failure(session: AsyncSession, *, key: str) -> None:
    await session.execute(
        _RECORD_FAILURE,
        {
            "key": key,
            "window": WINDOW,
            "allowed": FAILURES_ALLOWED,
            "lock": timedelta(seconds=LOCK_SECONDS),
        },
    )
    await session.commit()


async def clear(session: AsyncSession, *, key: str) -> None:
    """A success forgets the failures; rows older than a day go too (keeps the table small)."""
    await session.execute(
        text("DELETE FROM auth_throttle WHERE key = :key OR window_started_at < now() - :day"),
        {"key": key, "day": timedelta(days=1)},
    )


class BusyError(Exception):
    """A password check of the same account is already running in this worker."""


_checking: set[str] = set()


@contextmanager
def one_at_a_time(key: str) -> Iterator[None]:
    """At most one password check per account at a time (per worker): each costs a hashing slot
    that every log-in on the site shares, so one account sending many at once would make everyone
    else's wait. A person never sends two at once; the extra ones are refused (BusyError)."""
    if key in _checking:
        raise BusyError
    _checking.add(key)
    try:
        yield
    finally:
        _checking.discard(key)
