""" "Forgot password" and address verification by mail (only when mail is on).

"Forgot password": a reset link mailed to the account's address.

The answer is the same whether or not the address has an account (202, nothing said), so the
form tells nobody which addresses are customers. One mail per address per MAIL_WINDOW (a flood of
requests for one address sends one mail), and a few per client address: the rest are accepted
and dropped (per address) or refused with a 429 (per client, which tells nothing about accounts).
The link is an ordinary reset link (services/account_links.py): one use, RESET_LINK_MINUTES,
and using it ends every session of the account (auth.reset_password).

Address verification (services/verification.py): a new link for an account that cannot sign in
until its address is verified (the same answer for every address, throttled the same way), and
the link's use, which verifies the account's address or makes a new one the account's.
"""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, HTTPException, Request, Response, status
from sqlalchemy import select

from app import crud
from app.api.deps import SessionDep, too_many_attempts
from app.api.responses import error
from app.core.config import settings
from app.core.messages import say
from app.mail import outbox
from app.models import LinkKind, User
from app.schemas import (
    EmailVerification,
    EmailVerified,
    PasswordResetRequest,
    VerificationRequest,
)
from app.services import account_links, verification

router = APIRouter(prefix="/auth", tags=["auth"])

MAIL_WINDOW = timedelta(minutes=5)
MAILS_PER_CLIENT = 5


async def _first_of_window(
    session: SessionDep, request: Request, *, purpose: str, email: str
) -> bool:
    """404 when mail is off, 429 past a client's few requests of the window; then whether this
    is the address's first request of the window (the one that may send a mail)."""
    if not outbox.enabled():
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=say("mail_off"))
    client = request.client.host if request.client else "unknown"
    if not await outbox.allowed(
        session, key=f"{purpose}-client:{client}", per_window=MAILS_PER_CLIENT, window=MAIL_WINDOW
    ):
        await session.commit()
        raise too_many_attempts(int(MAIL_WINDOW.total_seconds()))
    return await outbox.allowed(session, key=f"{purpose}:{email}", per_window=1, window=MAIL_WINDOW)


@router.post(
    "/forgot-password",
    status_code=status.HTTP_202_ACCEPTED,
    responses={
        404: error("The site sends no mail (no SMTP settings): ask an administrator"),
        429: error("Too many requests from this client (Retry-After)"),
    },
)
async def request_password_reset(
    body: PasswordResetRequest, request: Request, session: SessionDep
) -> Response:
    first = await _first_of_window(session, request, purpose="forgot", email=body.email)
    user = await crud.get_user_by_email(session, email=body.email)
    if first and user is not None and user.is_active:
        link = await account_links.issue(
            session,
            kind=LinkKind.PASSWORD_RESET,
            email=user.email,
            user_id=user.id,
            created_by_id=None,
        )
        outbox.enqueue(
            session,
            kind="password_reset",
            recipient=user.email,
            link=link.path,
            minutes=settings.RESET_LINK_MINUTES,
        )
        await crud.add_audit_entry(session, actor=user, action="password_reset_mailed", target=user)
    await session.commit()  # the link and its mail together, or neither
    return Response(status_code=status.HTTP_202_ACCEPTED)


@router.post(
    "/resend-verification",
    status_code=status.HTTP_202_ACCEPTED,
    responses={
        404: error("The site sends no mail (no SMTP settings): no address needs verifying"),
        429: error("Too many requests from this client (Retry-After)"),
    },
)
async def resend_verification(
    body: VerificationRequest, request: Request, session: SessionDep
) -> Response:
    """A new verification link for an account whose address is not verified yet; the same
    answer whatever the address (202, nothing said)."""
    first = await _first_of_window(session, request, purpose="verify", email=body.email)
    user = await crud.get_user_by_email(session, email=body.email)
    if first and user is not None and user.is_active and not user.email_verified:
        await verification.mail_link(session, user=user, address=user.email)
    await session.commit()
    return Response(status_code=status.HTTP_202_ACCEPTED)


# What a refused verification link means to its reader (not "ask an administrator").
_VERIFY_REFUSALS = {"link_used": "verify_link_used", "link_expired": "verify_link_expired"}


@router.post(
    "/verify-email",
    response_model=EmailVerified,
    responses={
        400: error("The verification link is unknown, used or expired"),
        409: error("Another account took the new address meanwhile"),
    },
)
async def verify_email(body: EmailVerification, session: SessionDep) -> EmailVerified:
    """Use a verification link: the account's address is verified, or the new address it asked
    for becomes its own (its old address is told, its pending reset links end)."""
    try:
        link = await account_links.check(
            session, kind=LinkKind.EMAIL_VERIFICATION, token=body.token
        )
        user = await session.scalar(select(User).where(User.id == link.user_id).with_for_update())
        if user is None:  # pragma: no cover - the link is deleted with its account
            raise account_links.LinkRefusedError("link_unknown")
        await account_links.consume(
            session, kind=LinkKind.EMAIL_VERIFICATION, token=body.token, email=link.email
        )
    except account_links.LinkRefusedError as exc:
        await session.rollback()
        key = _VERIFY_REFUSALS.get(exc.key)
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST, detail=say(key) if key else str(exc)
        ) from exc
    old, new = user.email, link.email
    changed = old != new
    if changed:
        await crud.add_audit_entry(
            session,
            actor=user,
            action="change_email",
            target=crud.Named(id=user.id, email=new),
            detail=old,
        )
        # A reset link sent to the old address must not open the account any more.
        await account_links.end_pending_resets(session, user_id=user.id)
        outbox.enqueue(session, kind="email_changed", recipient=old, new=new)
    else:
        await crud.add_audit_entry(session, actor=user, action="verify_email", target=user)
    try:
        await crud.update_user(session, user=user, changes={"email": new, "email_verified": True})
    except crud.EmailTakenError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=say("email_taken")) from exc
    return EmailVerified(email=new, changed=changed)
