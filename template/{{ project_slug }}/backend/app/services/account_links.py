"""One-time links: an invitation to sign up and a password reset (an administrator hands them on,
or the site mails them), and an address's verification (mailed). The secret is in the link only;
the database keeps its SHA-256."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import settings
from app.core.messages import say
from app.models import AccountLink, LinkKind

# The frontend's pages that open each kind of link (hash routes: frontend/public/js/main.js).
PAGES = {
    LinkKind.INVITATION: "#/join",
    LinkKind.PASSWORD_RESET: "#/reset",
    LinkKind.EMAIL_VERIFICATION: "#/verify",
}


class LinkRefusedError(Exception):
    """The link is unknown, used, expired or for another e-mail; `str()` says which to a person,
    `key` is the message's key (link_unknown, link_used, link_expired, link_wrong_email)."""

    def __init__(self, key: str):
        super().__init__(say(key))
        self.key = key


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
    # A verification link lives as long as an invitation: both wait for someone to open a mail.
    lifetime = (
        timedelta(minutes=settings.RESET_LINK_MINUTES)
        if kind == LinkKind.PASSWORD_RESET
        else timedelta(hours=settings.INVITATION_HOURS)
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


async def pending_invitations(session: AsyncSession, *, email: str) -> int:
    """Invitations for this address that could still be used."""
    count = await session.scalar(
        select(func.count())
        .select_from(AccountLink)
        .where(
            AccountLink.kind == LinkKind.INVITATION,
            AccountLink.email == email,
            AccountLink.used_at.is_(None),
            AccountLink.expires_at > datetime.now(UTC),
        )
    )
    return count or 0


async def check(
    session: AsyncSession, *, kind: LinkKind, token: str, email: str | None = None
) -> AccountLink:
    """The link if it may be used now (not marking it used); LinkRefusedError saying why not.
    Without `email`, any address: the join page asks which one the link was made for."""
    now = datetime.now(UTC)
    link = await session.scalar(
        select(AccountLink).where(
            AccountLink.token_hash == _digest(token), AccountLink.kind == kind
        )
    )
    if link is None:
        raise LinkRefusedError("link_unknown")
    if link.used_at is not None:
        raise LinkRefusedError("link_used")
    if link.expires_at <= now:
        raise LinkRefusedError("link_expired")
    if email is not None and link.email != email:
        raise LinkRefusedError("link_wrong_email")
    return link


async def consume(session: AsyncSession, *, kind: LinkKind, token: str, email: str) -> AccountLink:
    """Mark the link used, in the caller's transaction (it commits or rolls back with the rest).

    The UPDATE is the check: of two uses of one link at the same moment, exactly one wins. A reset
    link that is used ends the account's other pending ones (end_pending_resets).
    """
    now = datetime.now(UTC)
    used = await session.scalar(
        update(AccountLink)
        .where(
            AccountLink.token_hash == _digest(token),
            AccountLink.kind == kind,
            AccountLink.used_at.is_(None),
            AccountLink.expires_at > now,
            AccountLink.email == email,
        )
        .values(used_at=now)
        .returning(AccountLink)
    )
    if used is None:
        await check(session, kind=kind, token=token, email=email)  # raises, saying why
        raise LinkRefusedError("link_used")  # pragma: no cover - used in between
    if kind == LinkKind.PASSWORD_RESET and used.user_id is not None:
        await end_pending_resets(session, user_id=used.user_id)
    return used


async def end_pending_resets(session: AsyncSession, *, user_id: uuid.UUID) -> None:
    """End every reset link of the account not used yet (in the caller's transaction): a used
    link, a new password or a new e-mail address leaves no other way into the account open."""
    await session.execute(
        update(AccountLink)
        .where(
            AccountLink.user_id == user_id,
            AccountLink.kind == LinkKind.PASSWORD_RESET,
            AccountLink.used_at.is_(None),
        )
        .values(used_at=datetime.now(UTC))
    )


async def end_pending(session: AsyncSession, *, user_id: uuid.UUID, kind: LinkKind) -> None:
    """End the account's links of `kind` not used yet (in the caller's transaction)."""
    await session.execute(
        update(AccountLink)
        .where(
            AccountLink.user_id == user_id,
            AccountLink.kind == kind,
            AccountLink.used_at.is_(None),
        )
        .values(used_at=datetime.now(UTC))
    )
