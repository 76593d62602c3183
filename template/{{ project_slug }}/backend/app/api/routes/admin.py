"""Administrators' tools beside the accounts: invitations, the audit log, the backups' state."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status

from app import crud
from app.api.deps import AdminUser, PaginationDep, SessionDep
from app.api.responses import ADMIN, SIGNED_IN, error
from app.core.config import settings
from app.core.messages import say
from app.mail import outbox
from app.models import LinkKind
from app.schemas import (
    AuditEntryPublic,
    BackupStatePublic,
    InvitationCreate,
    IssuedLinkPublic,
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
