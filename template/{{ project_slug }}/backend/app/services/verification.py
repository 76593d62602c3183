"""Address verification, only while the site sends mail (outbox.enabled()).

- An open sign-up (no invitation) starts with `email_verified` False and a link mailed to the
  address; the account cannot sign in until the link is opened (auth.login says how to get a new
  one: auth.resend_verification). An invitation was made for its address, an administrator's
  account is vouched for: both start verified, as does every account when mail is off.
- An address change waits: the link goes to the new address and the account keeps the old one
  until it is opened; then the old address gets a notice (mail "email_changed").
- A mailed reset link that is used proves the address too (auth.reset_password).

Each link and its mail are added to the caller's session: committed together, or neither.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import settings
from app.mail import outbox
from app.models import LinkKind, User
from app.services import account_links


async def mail_link(session: AsyncSession, *, user: User, address: str) -> None:
    """End the account's earlier verification links and mail a new one to `address` (the
    account's own, unverified; or the new one it asked for)."""
    await account_links.end_pending(session, user_id=user.id, kind=LinkKind.EMAIL_VERIFICATION)
    link = await account_links.issue(
        session,
        kind=LinkKind.EMAIL_VERIFICATION,
        email=address,
        user_id=user.id,
        created_by_id=None,
    )
    if address == user.email:
        outbox.enqueue(
            session,
            kind="verify_email",
            recipient=address,
            link=link.path,
            hours=settings.INVITATION_HOURS,
        )
    else:
        outbox.enqueue(
            session,
            kind="confirm_new_email",
            recipient=address,
            link=link.path,
            old=user.email,
            hours=settings.INVITATION_HOURS,
        )
