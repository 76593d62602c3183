"""How many uploads of one account stream to storage at once, per worker process.

Each streaming upload holds one of the worker's connections to storage for as long as its client
takes to send the file: 200 uploads trickling a byte every few seconds from one account would hold
them all, and everyone else's uploads would fail. Past STREAMING an account's next uploads wait
their turn (a browser dropping twenty files still gets all twenty, a few at a time); past WAITING
more, they are refused with 429.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

STREAMING = 4  # per account and worker: the storage client holds 100 connections per worker
WAITING = 16


class TooManyUploadsError(Exception):
    """The account already has STREAMING + WAITING uploads open in this worker."""


@dataclass
class _Account:
    streaming: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(STREAMING))
    open: int = 0


_accounts: dict[uuid.UUID, _Account] = {}


@asynccontextmanager
async def slot(owner_id: uuid.UUID) -> AsyncIterator[None]:
    """Hold one of the account's streaming slots for the length of an upload."""
    account = _accounts.setdefault(owner_id, _Account())
    if account.open >= STREAMING + WAITING:
        raise TooManyUploadsError
    account.open += 1
    try:
        async with account.streaming:
            yield
    finally:
        account.open -= 1
        if account.open == 0:
            del _accounts[owner_id]
