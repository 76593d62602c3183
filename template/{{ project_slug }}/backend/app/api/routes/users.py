"""The caller's own account, and the administrators' view of all accounts."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Response, status
from sqlalchemy import select

from app import crud
from app.api.deps import (
    AdminUser,
    CurrentSessionId,
    CurrentUser,
    PaginationDep,
    SessionDep,
    StorageDep,
    invalid_field,
    one_check_at_a_time,
    too_many_attempts,
)
from app.api.responses import ADMIN, SIGNED_IN, STORAGE_DOWN, USER_NOT_FOUND, error
from app.api.routes.auth import password_context
from app.core.db import release
from app.core.messages import say
from app.core.passwords import password_weakness
from app.core.security import hash_password, verify_password
from app.crud import Account
from app.mail import outbox
from app.models import File, LinkKind, Role, User
from app.schemas import (
    AdminUserCreate,
    IssuedLinkPublic,
    Page,
    PasswordChange,
    UserAdminUpdate,
    UserAdminView,
    UserPublic,
    UserUpdate,
)
from app.services import account_links, owner_blocks, throttle, verification
from app.services.sessions import revoke_user_sessions
from app.services.storage import StorageError

router = APIRouter(prefix="/users", tags=["users"], responses=SIGNED_IN)


async def _check_current_password(session: SessionDep, user: Account, password: str) -> None:
    """400 when wrong; throttled per account, so a stolen session cannot guess the password."""
    key = f"password:{user.id}"
    if wait := await throttle.retry_after(session, key=key):
        raise too_many_attempts(wait)
    await release(session)  # the check waits for a hashing slot: hold no connection meanwhile
    valid, _ = await verify_password(password, user.hashed_password)
    if not valid:
        await throttle.record_failure(session, key=key)
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=say("wrong_password"))
    await throttle.clear(session, key=key)


async def _count_email_change(session: SessionDep, user: Account) -> None:
    """Every e-mail change counts, made or refused: whether an address is taken can be asked a few
    times per quarter of an hour, not 24 times a second."""
    key = f"email-change:{user.id}"
    await throttle.record_failure(session, key=key)  # counted first: the sixth is already held
    if wait := await throttle.retry_after(session, key=key):
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            detail=say("too_many_email_changes", seconds=wait),
            headers={"Retry-After": str(wait)},
        )


async def _load_user(session: SessionDep, user_id: uuid.UUID) -> User:
    user = await session.get(User, user_id)
    if user is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=say("user_not_found"))
    return user


async def _with_pending(user: Account | User) -> UserPublic:
    """The account as it sees itself, with the new address waiting for its link, if any."""
    public = UserPublic.model_validate(user, from_attributes=True)
    if outbox.enabled():
        public.pending_email = await crud.get_pending_email(user_id=user.id, email=user.email)
    return public


@router.get("/me", response_model=UserPublic)
async def read_user_me(user: CurrentUser) -> UserPublic:
    # No SessionDep: an SQLAlchemy session costs CPU even when unused (its set-up and close, in
    # a greenlet), and the page asks for this on every load (see crud.PENDING_EMAIL).
    return await _with_pending(user)


@router.patch(
    "/me",
    response_model=UserPublic,
    responses={
        400: error("A new e-mail address without the right current password"),
        409: error("The e-mail address is taken"),
        429: error("Too many wrong passwords for this account (Retry-After)"),
    },
)
async def update_user_me(body: UserUpdate, current: CurrentUser, session: SessionDep) -> UserPublic:
    """The caller's name and address. With mail on, a new address waits: a link goes to it and
    the account keeps the old one until the link is opened (services/verification.py)."""
    changes = body.model_dump(exclude_unset=True)
    password = changes.pop("current_password", None)
    if changes.get("email", "") is None or changes.get("email") == current.email:
        changes.pop("email")  # an e-mail address cannot be removed, only changed
    if "email" in changes:
        if not password:
            raise HTTPException(
                status.HTTP_400_BAD_REQUEST, detail=say("email_change_needs_password")
            )
        await _count_email_change(session, current)
        with one_check_at_a_time(f"password:{current.id}"):
            await _check_current_password(session, current, password)
    user = await _load_user(session, current.id)
    if "email" in changes and outbox.enabled():
        new_email = changes.pop("email")
        if await crud.get_user_by_email(session, email=new_email) is not None:
            raise HTTPException(status.HTTP_409_CONFLICT, detail=say("email_taken"))
        await verification.mail_link(session, user=user, address=new_email)
        await crud.add_audit_entry(
            session, actor=current, action="change_email_asked", target=user, detail=new_email
        )
    if "email" in changes:
        await crud.add_audit_entry(
            session,
            actor=current,
            action="change_email",
            target=crud.Named(id=current.id, email=changes["email"]),
            detail=current.email,
        )
        # A reset link sent to the old address must not open the account any more.
        await account_links.end_pending_resets(session, user_id=user.id)
    try:
        user = await crud.update_user(session, user=user, changes=changes)
    except crud.EmailTakenError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=say("email_taken")) from exc
    # Read after the commit above: the lean pool sees the link mailed in this request.
    return await _with_pending(user)


@router.post(
    "/me/password",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={
        400: error("The current password is wrong"),
        429: error("Too many wrong passwords for this account (Retry-After)"),
    },
)
async def change_password_me(
    body: PasswordChange, user: CurrentUser, session_id: CurrentSessionId, session: SessionDep
) -> Response:
    with one_check_at_a_time(f"password:{user.id}"):
        await _check_current_password(session, user, body.current_password)
        await release(session)  # no connection held during the strength check and the hashing
        weakness = await password_weakness(
            body.new_password, context=password_context(user.email, user.full_name)
        )
        if weakness:
            raise invalid_field("new_password", weakness, "password_too_weak")
        hashed = await hash_password(body.new_password)
    db_user = await _load_user(session, user.id)
    # Pending reset links end with the password they were made to replace.
    await account_links.end_pending_resets(session, user_id=user.id)
    outbox.enqueue(session, kind="password_changed", recipient=db_user.email)
    await crud.update_user(session, user=db_user, changes={"hashed_password": hashed})
    # Whoever else holds a session (a stolen one, perhaps) is logged out; this one stays.
    await revoke_user_sessions(session, user_id=user.id, keep_family=session_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


async def _admin_view(session: SessionDep, users: list[User]) -> list[UserAdminView]:
    usage = await crud.usage_of(session, owner_ids=[user.id for user in users])
    return [
        UserAdminView(
            **UserPublic.model_validate(user).model_dump(),
            file_count=usage[user.id].file_count,
            used_bytes=usage[user.id].used_bytes,
            quota_bytes=crud.quota_bytes(user.quota_mb),
            quota_mb=user.quota_mb,
        )
        for user in users
    ]


@router.get("", response_model=Page[UserAdminView], responses=ADMIN)
async def read_users(_: AdminUser, session: SessionDep, page: PaginationDep) -> dict:
    users, total = await crud.list_users(session, offset=page.offset, limit=page.limit)
    return {"items": await _admin_view(session, users), "total": total}


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=UserAdminView,
    responses={**ADMIN, 409: error("An account with this e-mail address already exists")},
)
async def create_user(body: AdminUserCreate, admin: AdminUser, session: SessionDep) -> object:
    """An administrator creates an account (in every registration mode) and passes it on."""
    weakness = await password_weakness(
        body.password, context=password_context(body.email, body.full_name)
    )
    if weakness:
        raise invalid_field("password", weakness, "password_too_weak")
    hashed = await hash_password(body.password)  # before the session takes a connection
    try:
        user = await crud.add_user(
            session,
            email=body.email,
            hashed_password=hashed,
            full_name=body.full_name,
            role=body.role,
        )
    except crud.EmailTakenError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=say("email_taken")) from exc
    await crud.add_audit_entry(
        session, actor=admin, action="create_account", target=user, detail=f"role={body.role.value}"
    )
    await session.commit()
    await session.refresh(user)
    return (await _admin_view(session, [user]))[0]


@router.patch(
    "/{user_id}",
    response_model=UserAdminView,
    responses={
        **ADMIN,
        **USER_NOT_FOUND,
        **STORAGE_DOWN,
        400: error("An administrator cannot deactivate themself"),
        409: error("The change would leave the site without an active administrator"),
    },
)
async def update_user(
    user_id: uuid.UUID,
    body: UserAdminUpdate,
    admin: AdminUser,
    session: SessionDep,
    storage: StorageDep,
) -> object:
    changes = body.model_dump(exclude_unset=True)
    if changes.get("is_active", True) is None or changes.get("role", "") is None:
        raise invalid_field("is_active" if "is_active" in changes else "role", say("invalid_null"))
    if user_id == admin.id and changes.get("is_active") is False:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=say("deactivate_self"))
    locked = await crud.lock_for_admin_change(session, user_id=user_id)
    user = locked.user
    if user is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=say("user_not_found"))
    stays_active_admin = changes.get("role", user.role) == Role.ADMIN and changes.get(
        "is_active", user.is_active
    )
    if (
        user.role == Role.ADMIN
        and user.is_active
        and not stays_active_admin
        and locked.other_active_admins == 0
    ):
        raise HTTPException(status.HTTP_409_CONFLICT, detail=say("last_admin"))
    activity_changed = "is_active" in changes and changes["is_active"] != user.is_active
    if activity_changed:
        # Storage is told after the commit (services/owner_blocks.py): a change that fails here
        # has told it nothing, and one that is made reaches it even if storage is down now.
        await owner_blocks.record(session, owner_id=user.id, blocked=not changes["is_active"])
    for field, value in changes.items():
        if getattr(user, field) != value:
            shown = value.value if isinstance(value, Role) else value
            await crud.add_audit_entry(
                session, actor=admin, action=f"set_{field}", target=user, detail=f"{field}={shown}"
            )
    await crud.update_user(session, user=user, changes=changes)
    if changes.get("is_active") is False:
        await revoke_user_sessions(session, user_id=user.id)
    if activity_changed:
        await owner_blocks.deliver(storage, owner_id=user.id)
    return (await _admin_view(session, [user]))[0]


@router.post(
    "/{user_id}/password-reset",
    status_code=status.HTTP_201_CREATED,
    response_model=IssuedLinkPublic,
    responses={**ADMIN, **USER_NOT_FOUND},
)
async def create_password_reset(
    user_id: uuid.UUID, admin: AdminUser, session: SessionDep
) -> IssuedLinkPublic:
    """A one-time link for the administrator to pass on (the stack sends no e-mail)."""
    user = await _load_user(session, user_id)
    link = await account_links.issue(
        session,
        kind=LinkKind.PASSWORD_RESET,
        email=user.email,
        user_id=user.id,
        created_by_id=admin.id,
    )
    await crud.add_audit_entry(session, actor=admin, action="password_reset_link", target=user)
    await session.commit()
    return IssuedLinkPublic(path=link.path, expires_at=link.expires_at, email=user.email)


@router.delete(
    "/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={
        **ADMIN,
        **USER_NOT_FOUND,
        **STORAGE_DOWN,
        400: error("Not confirmed with the account's e-mail, or the caller's own account"),
        409: error("The deletion would leave the site without an active administrator"),
    },
)
async def delete_user(
    user_id: uuid.UUID,
    confirm_email: Annotated[str, Query(max_length=254, description="The account's e-mail")],
    admin: AdminUser,
    session: SessionDep,
    storage: StorageDep,
) -> Response:
    """Delete an account and every file of it, in storage too."""
    if user_id == admin.id:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=say("delete_self"))
    # The lock holds back this user's uploads (they lock the same row before recording a file),
    # so no file is recorded between the listing below and the deletion; the administrators' rows
    # are locked in the same order as by every change of an account (no deadlock).
    locked = await crud.lock_for_admin_change(session, user_id=user_id)
    user = locked.user
    if user is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=say("user_not_found"))
    if confirm_email.strip().lower() != user.email:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST, detail=say("delete_confirm", email=user.email)
        )
    if user.role == Role.ADMIN and user.is_active and locked.other_active_admins == 0:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=say("last_admin"))
    files = list(await session.scalars(select(File).where(File.owner_id == user.id)))
    removed: list[File] = []
    try:
        for file in files:
            await storage.delete(file.stored_name)
            removed.append(file)
    except StorageError as exc:
        # Keep the rows of the files still stored (nothing lost, nothing orphaned): retry later.
        for file in removed:
            await session.delete(file)
        await session.commit()
        raise HTTPException(exc.status_code, detail=exc.detail) from exc
    await crud.add_audit_entry(
        session, actor=admin, action="delete_account", target=user, detail=f"files={len(files)}"
    )
    await session.flush()  # the entry first: deleting the account then empties its target_id
    await session.delete(user)  # its files' rows, sessions and links go with it (ON DELETE CASCADE)
    await session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
