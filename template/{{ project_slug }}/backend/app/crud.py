"""Reads and writes of users and files (keyword-only arguments, no HTTP concerns)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import psycopg
import psycopg_pool
from sqlalchemy import and_, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import MB, settings
from app.core.db import SessionFactory, account_pool
from app.models import AuditEntry, File, Role, User

# The columns of models.User, read by primary key on every authenticated request (see core/db.py),
# and whether the token's session (its refresh-token family) is still open: one round trip, so a
# session ended by logout, reuse of a refresh cookie or a password change stops at once.
ACCOUNT_BY_ID = (
    "SELECT id, email, full_name, hashed_password, role, is_active, created_at, quota_mb, "
    "EXISTS (SELECT 1 FROM refresh_tokens WHERE family_id = %(session_id)s "
    "AND user_id = %(user_id)s AND revoked_at IS NULL AND expires_at > now()) AS session_open "
    "FROM users WHERE id = %(user_id)s"
)
# The new address an account asked for and has not verified yet (services/verification.py): the
# newest unused, unexpired verification link to an address other than the account's own. Read on
# the same lean pool as the account, for GET /api/users/me, which the page asks on every load: it
# had an SQLAlchemy session for this (opened and closed even with mail off, where no query ran),
# the largest part of that route's slowdown since issue 28 (docs/performance.md).
PENDING_EMAIL = (
    "SELECT email FROM account_links WHERE user_id = %(user_id)s "
    "AND kind = 'email_verification' AND used_at IS NULL AND expires_at > now() "
    "AND email <> %(email)s ORDER BY created_at DESC LIMIT 1"
)


@dataclass(frozen=True, slots=True)
class Account:
    """A read-only snapshot of a user row; to change the user, load the ORM `User`."""

    id: uuid.UUID
    email: str
    full_name: str | None
    hashed_password: str
    role: Role
    is_active: bool
    created_at: datetime
    session_open: bool = False  # whether the session of the token that loaded it is still open
    quota_mb: int | None = None  # an administrator's override of USER_QUOTA_MB

    @property
    def quota_bytes(self) -> int:
        return quota_bytes(self.quota_mb)


def quota_bytes(quota_mb: int | None) -> int:
    """A user's storage quota: their own if an administrator set one, else USER_QUOTA_MB."""
    return settings.user_quota_bytes if quota_mb is None else quota_mb * MB


async def get_account(*, user_id: uuid.UUID, session_id: uuid.UUID) -> Account | None:
    row = await _lean_read(ACCOUNT_BY_ID, {"user_id": user_id, "session_id": session_id})
    if row is None:
        return None
    return Account(**{**row, "role": Role(row["role"])})


async def get_pending_email(*, user_id: uuid.UUID, email: str) -> str | None:
    """The account's new address waiting for its link to be opened (None: no change waits)."""
    row = await _lean_read(PENDING_EMAIL, {"user_id": user_id, "email": email})
    return None if row is None else row["email"]


async def _lean_read(query: str, params: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """One row of `query` on the lean pool (core/db.py), or None."""
    for attempt in (1, 2):
        try:
            async with account_pool.connection() as connection:
                cursor = await connection.execute(query, params)
                return await cursor.fetchone()
        except psycopg_pool.PoolTimeout:
            raise  # no connection to be had: the database is down, retrying only doubles the wait
        except psycopg.OperationalError:
            # A database restart cuts every pooled connection: drop the dead ones, then retry.
            if attempt == 2:
                raise
            await account_pool.check()
    raise AssertionError("unreachable: the second attempt returns or raises")


class EmailTakenError(Exception):
    """Another account already uses this e-mail address."""


async def get_user_by_email(session: AsyncSession, *, email: str) -> User | None:
    return await session.scalar(select(User).where(User.email == email))


async def add_user(
    session: AsyncSession,
    *,
    email: str,
    hashed_password: str,
    full_name: str | None = None,
    role: Role = Role.USER,
) -> User:
    """Insert a new account in the session's transaction (the caller commits it)."""
    user = User(email=email, hashed_password=hashed_password, full_name=full_name, role=role)
    session.add(user)
    # The unique index decides, not a prior SELECT: two concurrent sign-ups cannot both win.
    try:
        await session.flush()
    except IntegrityError as exc:
        await session.rollback()
        raise EmailTakenError from exc
    return user


async def update_user(session: AsyncSession, *, user: User, changes: Mapping[str, Any]) -> User:
    for field, value in changes.items():
        setattr(user, field, value)
    await _commit_or_email_taken(session)
    return user


async def _commit_or_email_taken(session: AsyncSession) -> None:
    # The unique index decides, not a prior SELECT: two concurrent sign-ups cannot both win.
    try:
        await session.commit()
    except IntegrityError as exc:
        await session.rollback()
        raise EmailTakenError from exc


async def list_users(session: AsyncSession, *, offset: int, limit: int) -> tuple[list[User], int]:
    total = await session.scalar(select(func.count()).select_from(User)) or 0
    users = await session.scalars(
        select(User).order_by(User.created_at, User.id).offset(offset).limit(limit)
    )
    return list(users), total


# The sort keys of the file list, each with an index that reads a page in order (migration 0004);
# the id last, so rows that tie keep one order from page to page.
FILE_SORT_KEYS = {
    "name": (func.lower(File.name), File.id),
    "date": (File.created_at, File.id),
    "size": (File.size, File.id),
}


def _contains(text: str) -> str:
    """A LIKE pattern for names containing `text` as typed: its % and _ are not wildcards."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def list_files(
    session: AsyncSession,
    *,
    owner_id: uuid.UUID,
    offset: int,
    limit: int,
    search: str = "",
    sort: str = "date",
    descending: bool = True,
) -> tuple[list[File], int]:
    """A page of the owner's files whose name contains `search`, ignoring case and accents ("ete"
    finds "Été"), and how many match.

    folded(name) LIKE '%…%' is what the trigram index on folded(name) answers (migration 0006).
    """
    conditions = [File.owner_id == owner_id]
    if search:
        pattern = func.folded(_contains(search))  # the database's folding on both sides
        conditions.append(func.folded(File.name).like(pattern, escape="\\"))
    total = await session.scalar(select(func.count()).select_from(File).where(*conditions)) or 0
    keys = FILE_SORT_KEYS[sort]
    files = await session.scalars(
        select(File)
        .where(*conditions)
        .order_by(*(key.desc() if descending else key.asc() for key in keys))
        .offset(offset)
        .limit(limit)
    )
    return list(files), total


async def get_file(
    session: AsyncSession, *, owner_id: uuid.UUID, file_id: uuid.UUID
) -> File | None:
    # Filtering on the owner makes another user's file indistinguishable from a missing one.
    return await session.scalar(select(File).where(File.id == file_id, File.owner_id == owner_id))


async def lock_user(session: AsyncSession, *, user_id: uuid.UUID) -> bool | None:
    """Lock the user's row until commit; whether the account is active, None when it is gone."""
    return await session.scalar(select(User.is_active).where(User.id == user_id).with_for_update())


async def used_bytes(session: AsyncSession, *, owner_id: uuid.UUID) -> int:
    """Bytes stored by a user (lock_user first to count concurrent uploads one at a time)."""
    total = await session.scalar(
        select(func.coalesce(func.sum(File.size), 0)).where(File.owner_id == owner_id)
    )
    return int(total or 0)


async def file_row_exists(*, stored_name: str) -> bool:
    """Whether a row references this stored file, asked on a connection of its own."""
    async with SessionFactory() as session:
        found = await session.scalar(select(File.id).where(File.stored_name == stored_name))
    return found is not None


class Someone(Protocol):
    """An account as the audit log names it: the ORM `User` or an `Account` snapshot."""

    id: uuid.UUID
    email: str


@dataclass(frozen=True, slots=True)
class Named:
    """An account as an entry should name it when that is not its row's current address."""

    id: uuid.UUID
    email: str


async def add_audit_entry(
    session: AsyncSession,
    *,
    actor: Someone,
    action: str,
    target: Someone | None = None,
    target_email: str | None = None,
    detail: str | None = None,
) -> None:
    """Record an action on an account; committed with the action itself by the caller.

    Ids say who (an address can change hands later); the addresses are copied as they are now."""
    session.add(
        AuditEntry(
            actor_id=actor.id,
            actor_email=actor.email,
            action=action,
            target_id=target.id if target is not None else None,
            target_email=target.email if target is not None else target_email,
            detail=detail,
        )
    )


async def list_audit_entries(
    session: AsyncSession, *, offset: int, limit: int
) -> tuple[list[AuditEntry], int]:
    total = await session.scalar(select(func.count()).select_from(AuditEntry)) or 0
    entries = await session.scalars(
        select(AuditEntry).order_by(AuditEntry.id.desc()).offset(offset).limit(limit)
    )
    return list(entries), total


@dataclass(frozen=True, slots=True)
class Usage:
    file_count: int
    used_bytes: int


async def usage_of(session: AsyncSession, *, owner_ids: list[uuid.UUID]) -> dict[uuid.UUID, Usage]:
    """File count and bytes of each owner, in one query."""
    rows = await session.execute(
        select(File.owner_id, func.count(), func.coalesce(func.sum(File.size), 0))
        .where(File.owner_id.in_(owner_ids))
        .group_by(File.owner_id)
    )
    found = {owner: Usage(int(count), int(size)) for owner, count, size in rows}
    return {owner: found.get(owner, Usage(0, 0)) for owner in owner_ids}


@dataclass(frozen=True, slots=True)
class LockedForAdminChange:
    user: User | None  # None: no such account
    other_active_admins: int


async def lock_for_admin_change(
    session: AsyncSession, *, user_id: uuid.UUID
) -> LockedForAdminChange:
    """Lock the account and every active administrator's row until commit, in one order (by id).

    Two administrators changing each other at once then wait for each other instead of
    deadlocking, and the second sees the first's change: they cannot both succeed in leaving the
    site without an active administrator. Rows are read again (populate_existing), not taken from
    an earlier read of this session."""
    rows = await session.scalars(
        select(User)
        .where(or_(User.id == user_id, and_(User.role == Role.ADMIN, User.is_active.is_(True))))
        .order_by(User.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    locked = list(rows)
    user = next((row for row in locked if row.id == user_id), None)
    others = sum(1 for row in locked if row.id != user_id and row.role == Role.ADMIN)
    return LockedForAdminChange(user=user, other_active_admins=others)
