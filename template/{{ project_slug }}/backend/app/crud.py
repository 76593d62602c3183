"""Reads and writes of users and files (keyword-only arguments, no HTTP concerns)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
import psycopg_pool
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import SessionFactory, account_pool
from app.models import File, Role, User

# The columns of models.User, read by primary key on every authenticated request (see core/db.py),
# and whether the token's session (its refresh-token family) is still open: one round trip, so a
# session ended by logout, reuse of a refresh cookie or a password change stops at once.
ACCOUNT_BY_ID = (
    "SELECT id, email, full_name, hashed_password, role, is_active, created_at, "
    "EXISTS (SELECT 1 FROM refresh_tokens WHERE family_id = %(session_id)s "
    "AND user_id = %(user_id)s AND revoked_at IS NULL AND expires_at > now()) AS session_open "
    "FROM users WHERE id = %(user_id)s"
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


async def get_account(*, user_id: uuid.UUID, session_id: uuid.UUID) -> Account | None:
    for attempt in (1, 2):
        try:
            async with account_pool.connection() as connection:
                cursor = await connection.execute(
                    ACCOUNT_BY_ID, {"user_id": user_id, "session_id": session_id}
                )
                row = await cursor.fetchone()
            break
        except psycopg_pool.PoolTimeout:
            raise  # no connection to be had: the database is down, retrying only doubles the wait
        except psycopg.OperationalError:
            # A database restart cuts every pooled connection: drop the dead ones, then retry.
            if attempt == 2:
                raise
            await account_pool.check()
    if row is None:
        return None
    return Account(**{**row, "role": Role(row["role"])})


class EmailTakenError(Exception):
    """Another account already uses this e-mail address."""


async def get_user_by_email(session: AsyncSession, *, email: str) -> User | None:
    return await session.scalar(select(User).where(User.email == email))


async def create_user(
    session: AsyncSession,
    *,
    email: str,
    hashed_password: str,
    full_name: str | None = None,
    role: Role = Role.USER,
) -> User:
    user = User(email=email, hashed_password=hashed_password, full_name=full_name, role=role)
    session.add(user)
    await _commit_or_email_taken(session)
    await session.refresh(user)
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


async def list_files(
    session: AsyncSession, *, owner_id: uuid.UUID, offset: int, limit: int
) -> tuple[list[File], int]:
    total = (
        await session.scalar(
            select(func.count()).select_from(File).where(File.owner_id == owner_id)
        )
        or 0
    )
    files = await session.scalars(
        select(File)
        .where(File.owner_id == owner_id)
        .order_by(File.created_at.desc(), File.id.desc())
        .offset(offset)
        .limit(limit)
    )
    return list(files), total


async def get_file(
    session: AsyncSession, *, owner_id: uuid.UUID, file_id: uuid.UUID
) -> File | None:
    # Filtering on the owner makes another user's file indistinguishable from a missing one.
    return await session.scalar(select(File).where(File.id == file_id, File.owner_id == owner_id))


async def used_bytes(session: AsyncSession, *, owner_id: uuid.UUID, lock: bool = False) -> int:
    """Bytes stored by a user; `lock` serialises concurrent uploads of that user until commit."""
    if lock:
        await session.execute(select(User.id).where(User.id == owner_id).with_for_update())
    total = await session.scalar(
        select(func.coalesce(func.sum(File.size), 0)).where(File.owner_id == owner_id)
    )
    return int(total or 0)


async def file_row_exists(*, stored_name: str) -> bool:
    """Whether a row references this stored file, asked on a connection of its own."""
    async with SessionFactory() as session:
        found = await session.scalar(select(File.id).where(File.stored_name == stored_name))
    return found is not None
