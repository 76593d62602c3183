"""Administrators' tools beside the accounts: invitations, the audit log, the backups' state,
the outbox's failed mails (each can be sent again)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from fastapi import APIRouter, HTTPException, Response, status
from sqlalchemy import select

from app import crud
from app.api.deps import AdminUser, PaginationDep, SessionDep
from app.api.responses import ADMIN, SIGNED_IN, error
from app.core.config import settings
from app.core.messages import say
from app.mail import outbox
from app.models import LinkKind, MailStatus, OutboxMail
from app.schemas import (
    AuditEntryPublic,
    BackupStatePublic,
    FailedMailPublic,
    InvitationCreate,
    IssuedLinkPublic,
    OutboxPublic,
    Page,
)
from app.services import account_links
from app.services.backup_state import read_backup_state

router = APIRouter(tags=["admin"], responses={**SIGNED_IN, **ADMIN})


@router.post(
    "/invitations",
    status_code=status.HTTP_201_CREATED,
    response_model=IssuedLinkPublic,
    responses={
        409: error("An account already uses this e-mail, or sign-up is closed"),
    },
)
async def create_invitation(
    body: InvitationCreate, admin: AdminUser, session: SessionDep
) -> IssuedLinkPublic:
    """A one-time sign-up link for one e-mail, valid INVITATION_HOURS, for the admin to pass on."""
    if settings.REGISTRATION == "closed":
        raise HTTPException(status.HTTP_409_CONFLICT, detail=say("invitations_closed"))
    if await crud.get_user_by_email(session, email=body.email) is not None:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=say("email_taken"))
    pending = await account_links.pending_invitations(session, email=body.email)
    link = await account_links.issue(
        session, kind=LinkKind.INVITATION, email=body.email, created_by_id=admin.id
    )
    # Mailed too when mail is on (committed with the link); the admin still sees the link.
    outbox.enqueue(
        session,
        kind="invitation",
        recipient=body.email,
        link=link.path,
        inviter=admin.full_name or admin.email,
        hours=settings.INVITATION_HOURS,
    )
    await crud.add_audit_entry(session, actor=admin, action="invite", target_email=body.email)
    await session.commit()
    return IssuedLinkPublic(
        path=link.path,
        expires_at=link.expires_at,
        email=body.email,
        # The earlier links keep working until they expire or one of them is used.
        notice=say("invitation_pending_already") if pending else None,
    )


@router.get("/audit", response_model=Page[AuditEntryPublic])
async def read_audit_log(_: AdminUser, session: SessionDep, page: PaginationDep) -> dict:
    """Administrators' actions, newest first."""
    entries, total = await crud.list_audit_entries(session, offset=page.offset, limit=page.limit)
    return {"items": entries, "total": total}


@router.get("/backups", response_model=BackupStatePublic)
async def read_backups(_: AdminUser) -> BackupStatePublic:
    """The backup service's state: the last copy, the last restore drill, the first problem."""
    return read_backup_state(settings.BACKUP_STATUS_FILE)


FAILED_SHOWN = 20


@router.get("/outbox", response_model=OutboxPublic)
async def read_outbox(_: AdminUser, session: SessionDep) -> OutboxPublic:
    """Mails waiting and failed for good; the failed ones with the mail server's answer."""
    counts = await outbox.counts(session)
    failed = await session.scalars(
        select(OutboxMail)
        .where(OutboxMail.status == MailStatus.FAILED)
        .order_by(OutboxMail.created_at.desc(), OutboxMail.id)
        .limit(FAILED_SHOWN)
    )
    return OutboxPublic(
        mail=outbox.enabled(),
        waiting=counts[MailStatus.WAITING.value],
        failed=counts[MailStatus.FAILED.value],
        failed_mails=[FailedMailPublic.model_validate(mail) for mail in failed],
    )


@router.post(
    "/outbox/{mail_id}/retry",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={
        404: error("No such mail in the outbox"),
        409: error("The mail is not failed (sent, or waiting already)"),
    },
)
async def retry_mail(mail_id: uuid.UUID, admin: AdminUser, session: SessionDep) -> Response:
    """Put a failed mail back in the queue: the mailer sends it at once, with a fresh round of
    attempts (its last answer stays shown until the next one)."""
    mail = await session.scalar(
        select(OutboxMail).where(OutboxMail.id == mail_id).with_for_update()
    )
    if mail is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=say("mail_not_found"))
    if mail.status != MailStatus.FAILED:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=say("mail_not_failed"))
    mail.status, mail.attempts = MailStatus.WAITING, 0
    mail.next_attempt_at = datetime.now(UTC)
    await crud.add_audit_entry(
        session,
        actor=admin,
        action="mail_retry",
        target_email=mail.recipient,
        detail=mail.subject[:500],
    )
    await session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
