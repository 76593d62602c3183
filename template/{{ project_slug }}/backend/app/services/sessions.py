"""Login sessions as refresh-token families: rotated at every use, revoked as a whole on reuse."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.security import create_access_token, create_refresh_token
from app.models import RefreshToken, User


class SessionRefusedError(Exception):
    """The refresh token is unknown, expired, revoked or was already used."""


@dataclass(frozen=True)
class IssuedTokens:
    access_token: str
    refresh_token: str
    refresh_expires_at: datetime


async def _issue(
    session: AsyncSession, *, user_id: uuid.UUID, family_id: uuid.UUID
) -> IssuedTokens:
    token_id = uuid.uuid4()
    refresh_token, expires_at = create_refresh_token(
        user_id=user_id, token_id=token_id, family_id=family_id
    )
    session.add(
        RefreshToken(id=token_id, family_id=family_id, user_id=user_id, expires_at=expires_at)
    )
    await session.commit()
    return IssuedTokens(
        access_token=create_access_token(user_id=user_id, session_id=family_id),
        refresh_token=refresh_token,
        refresh_expires_at=expires_at,
    )


async def start_session(session: AsyncSession, *, user: User) -> IssuedTokens:
    # Housekeeping at each login keeps the table at about one row per live session.
    await session.execute(
        delete(RefreshToken).where(
            RefreshToken.user_id == user.id, RefreshToken.expires_at < datetime.now(UTC)
        )
    )
    return await _issue(session, user_id=user.id, family_id=uuid.uuid4())


async def rotate_session(session: AsyncSession, *, claims: dict) -> tuple[User, IssuedTokens]:
    """Exchange a valid refresh token (decoded `claims`) for a new pair in the same family."""
    now = datetime.now(UTC)
    # One atomic UPDATE: of two concurrent uses of the same token, exactly one wins.
    used = await session.scalar(
        update(RefreshToken)
        .where(
            RefreshToken.id == claims["jti"],
            RefreshToken.user_id == claims["sub"],
            RefreshToken.rotated_at.is_(None),
            RefreshToken.revoked_at.is_(None),
            RefreshToken.expires_at > now,
        )
        .values(rotated_at=now)
        .returning(RefreshToken.family_id)
    )
    if used is None:
        # A rotated token presented again was stolen or replayed: end the whole session.
        await revoke_family(session, family_id=claims["sid"])
        raise SessionRefusedError
    user = await session.get(User, claims["sub"])
    if user is None or not user.is_active:
        await revoke_family(session, family_id=used)
        raise SessionRefusedError
    return user, await _issue(session, user_id=user.id, family_id=used)


async def revoke_family(session: AsyncSession, *, family_id: uuid.UUID) -> None:
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC))
    )
    await session.commit()


async def revoke_user_sessions(
    session: AsyncSession, *, user_id: uuid.UUID, keep_family: uuid.UUID | None = None
) -> None:
    """Revoke every session of a user, except `keep_family` (the caller's own) if given."""
    condition = [RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None)]
    if keep_family is not None:
        condition.append(RefreshToken.family_id != keep_family)
    await session.execute(
        update(RefreshToken).where(*condition).values(revoked_at=datetime.now(UTC))
    )
    await session.commit()
