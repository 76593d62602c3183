"""One-time links an administrator hands on (the stack sends no e-mail): an invitation to sign up
and a password reset. The secret is in the link only; the database keeps its SHA-256."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import settings
from app.core.messages import say
from app.models import AccountLink, LinkKind

# The frontend's pages that open each kind of link (hash routes: frontend/public/js/main.js).
PAGES = {LinkKind.INVITATION: "#/join", LinkKind.PASSWORD_RESET: "#/reset"}


class LinkRefusedError(Exception):
    """The link is unknown, used, expired or for another e-mail; `str()` says which to a person."""


@dataclass(frozen=True)
class IssuedLink:
    path: str  # "/#/join?token=…": the caller prefixes the site's origin
    expires_at: datetime


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def issue(
    session: AsyncSession,
    *,
    kind: LinkKind,
    email: str,
    created_by_id: uuid.UUID | None,
    user_id: uuid.UUID | None = None,
) -> IssuedLink:
    """Store a new link (committed with the caller's session) and return where it points."""
    lifetime = (
        timedelta(hours=settings.INVITATION_HOURS)
        if kind == LinkKind.INVITATION
        else timedelta(minutes=settings.RESET_LINK_MINUTES)
    )
    token = secrets.token_urlsafe(32)
    expires_at = datetime.now(UTC) + lifetime
    session.add(
        AccountLink(
            kind=kind,
            token_hash=_digest(token),
            email=email,
            user_id=user_id,
            created_by_id=created_by_id,
            expires_at=expires_at,
        )
    )
    return IssuedLink(path=f"/{PAGES[kind]}?token={token}", expires_at=expires_at)


async def consume(session: AsyncSession, *, kind: LinkKind, token: str, email: str) -> AccountLink:
    """Mark the link used, in the caller's transaction (it commits or rolls back with the rest).

    The UPDATE is the check: of two uses of one link at the same moment, exactly one wins.
    """
    now = datetime.now(UTC)
    digest = _digest(token)
    used = await session.scalar(
        update(AccountLink)
        .where(
            AccountLink.token_hash == digest,
            AccountLink.kind == kind,
            AccountLink.used_at.is_(None),
            AccountLink.expires_at > now,
            AccountLink.email == email,
        )
        .values(used_at=now)
        .returning(AccountLink)
    )
    if used is not None:
        return used
    # Say why, so the person knows what to do next.
    link = await session.scalar(
        select(AccountLink).where(AccountLink.token_hash == digest, AccountLink.kind == kind)
    )
    if link is None:
        raise LinkRefusedError(say("link_unknown"))
    if link.used_at is not None:
        raise LinkRefusedError(say("link_used"))
    if link.expires_at <= now:
        raise LinkRefusedError(say("link_expired"))
    raise LinkRefusedError(say("link_wrong_email"))
