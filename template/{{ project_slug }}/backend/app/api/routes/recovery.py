""" "Forgot password": a reset link mailed to the account's address (only when mail is on).

The answer is the same whether or not the address has an account (202, nothing said), so the
form tells nobody which addresses are customers. One mail per address per MAIL_WINDOW (a flood of
requests for one address sends one mail), and a few per client address: the rest are accepted
and dropped (per address) or refused with a 429 (per client, which tells nothing about accounts).
The link is an ordinary reset link (services/account_links.py): one use, RESET_LINK_MINUTES,
and using it ends every session of the account (auth.reset_password).
"""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, HTTPException, Request, Response, status

from app import crud
from app.api.deps import SessionDep, too_many_attempts
from app.api.responses import error
from app.core.config import settings
from app.core.messages import say
from app.mail import outbox
from app.models import LinkKind
from app.schemas import PasswordResetRequest
from app.services import account_links

router = APIRouter(prefix="/auth", tags=["auth"])

MAIL_WINDOW = timedelta(minutes=5)
MAILS_PER_CLIENT = 5


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
    if not settings.mail_enabled:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=say("mail_off"))
    client = request.client.host if request.client else "unknown"
    if not await outbox.allowed(
        session, key=f"forgot-client:{client}", per_window=MAILS_PER_CLIENT, window=MAIL_WINDOW
    ):
        await session.commit()
        raise too_many_attempts(int(MAIL_WINDOW.total_seconds()))
    first = await outbox.allowed(
        session, key=f"forgot:{body.email}", per_window=1, window=MAIL_WINDOW
    )
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
