"""Storage's blocks of a deactivated owner's download links, kept in step with the database.

A change of `is_active` spans two services. It is written to the database first, with a row of
`pending_owner_blocks` (an outbox) in the same transaction; storage is told after the commit, and
the row is deleted once storage has it. If storage cannot be told (down, a timeout), the row stays
and `deliver_pending` tries again every few seconds: the database is the truth, and storage comes
to agree with it whatever failed in between. Never the reverse: a change that rolls back has told
storage nothing.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import SessionFactory
from app.models import PendingOwnerBlock
from app.services.storage import StorageClient, StorageError

logger = logging.getLogger(__name__)

RETRY_SECONDS = 5


async def record(session: AsyncSession, *, owner_id: uuid.UUID, blocked: bool) -> None:
    """Say in the caller's transaction what storage must be told; the newest change wins."""
    version = uuid.uuid4()
    await session.execute(
        insert(PendingOwnerBlock)
        .values(owner_id=owner_id, blocked=blocked, version=version)
        .on_conflict_do_update(
            index_elements=[PendingOwnerBlock.owner_id],
            set_={"blocked": blocked, "version": version},
        )
    )


async def deliver(storage: StorageClient, *, owner_id: uuid.UUID) -> bool:
    """Tell storage the owner's pending state; True when nothing is left pending for them."""
    async with SessionFactory() as session:
        pending = await session.get(PendingOwnerBlock, owner_id)
        if pending is None:
            return True
        blocked, version = pending.blocked, pending.version
        await session.commit()  # no connection held while storage answers
        try:
            await storage.set_owner_blocked(owner_id, blocked=blocked)
        except StorageError:
            logger.warning("storage not told yet that owner %s is blocked=%s", owner_id, blocked)
            return False
        # Only this change: one made meanwhile (deactivated again, say) stays to be delivered.
        await session.execute(
            delete(PendingOwnerBlock).where(
                PendingOwnerBlock.owner_id == owner_id, PendingOwnerBlock.version == version
            )
        )
        await session.commit()
    return True


async def deliver_pending(storage: StorageClient) -> None:
    async with SessionFactory() as session:
        owners = list(await session.scalars(select(PendingOwnerBlock.owner_id)))
    for owner_id in owners:
        await deliver(storage, owner_id=owner_id)


async def keep_delivering(storage: Callable[[], StorageClient]) -> None:
    """Run for the life of a worker (app.main's lifespan): delivers what failed before."""
    while True:
        await asyncio.sleep(RETRY_SECONDS)
        try:
            await deliver_pending(storage())
        except Exception as exc:  # the database may be down: try again at the next round
            logger.warning("pending storage blocks not delivered: %r", exc)
