"""The caller's own account, and the administrators' view of all accounts."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, HTTPException, Response, status

from app import crud
from app.api.deps import (
    AdminUser,
    CurrentSessionId,
    CurrentUser,
    PaginationDep,
    SessionDep,
    StorageDep,
    invalid_field,
    too_many_attempts,
)
from app.api.responses import ADMIN, SIGNED_IN, STORAGE_DOWN, USER_NOT_FOUND, error
from app.api.routes.auth import password_context
from app.core.passwords import password_weakness
from app.core.security import hash_password, verify_password
from app.crud import Account
from app.models import User
from app.schemas import Page, PasswordChange, UserAdminUpdate, UserPublic, UserUpdate
from app.services import throttle
from app.services.sessions import revoke_user_sessions
from app.services.storage import StorageError

router = APIRouter(prefix="/users", tags=["users"], responses=SIGNED_IN)

EMAIL_TAKEN = "An account with this e-mail address already exists."
WRONG_PASSWORD = "The current password is wrong."  # noqa: S105 - a message, not a secret


async def _check_current_password(session: SessionDep, user: Account, password: str) -> None:
    """400 when wrong; throttled per account, so a stolen session cannot guess the password."""
    key = f"password:{user.id}"
    if wait := await throttle.retry_after(session, key=key):
        raise too_many_attempts(wait)
    valid, _ = await verify_password(password, user.hashed_password)
    if not valid:
        await throttle.record_failure(session, key=key)
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=WRONG_PASSWORD)
    await throttle.clear(session, key=key)


async def _load_user(session: SessionDep, user_id: uuid.UUID) -> User:
    user = await session.get(User, user_id)
    if user is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="No user with this id.")
    return user


@router.get("/me", response_model=UserPublic)
async def read_user_me(user: CurrentUser) -> Account:
    return user


@router.patch(
    "/me",
    response_model=UserPublic,
    responses={
        400: error("A new e-mail address without the right current password"),
        409: error("The e-mail address is taken"),
        429: error("Too many wrong passwords for this account (Retry-After)"),
    },
)
async def update_user_me(body: UserUpdate, current: CurrentUser, session: SessionDep) -> User:
    changes = body.model_dump(exclude_unset=True)
    password = changes.pop("current_password", None)
    if changes.get("email", "") is None or changes.get("email") == current.email:
        changes.pop("email")  # an e-mail address cannot be removed, only changed
    if "email" in changes:
        if not password:
            raise HTTPException(
                status.HTTP_400_BAD_REQUEST,
                detail="Enter your current password to change your e-mail address.",
            )
        await _check_current_password(session, current, password)
    user = await _load_user(session, current.id)
    try:
        return await crud.update_user(session, user=user, changes=changes)
    except crud.EmailTakenError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=EMAIL_TAKEN) from exc


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
    await _check_current_password(session, user, body.current_password)
    weakness = await password_weakness(
        body.new_password, context=password_context(user.email, user.full_name)
    )
    if weakness:
        raise invalid_field("new_password", weakness, "password_too_weak")
    hashed = await hash_password(body.new_password)
    db_user = await _load_user(session, user.id)
    await crud.update_user(session, user=db_user, changes={"hashed_password": hashed})
    # Whoever else holds a session (a stolen one, perhaps) is logged out; this one stays.
    await revoke_user_sessions(session, user_id=user.id, keep_family=session_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("", response_model=Page[UserPublic], responses=ADMIN)
async def read_users(_: AdminUser, session: SessionDep, page: PaginationDep) -> dict:
    users, total = await crud.list_users(session, offset=page.offset, limit=page.limit)
    return {"items": users, "total": total}


@router.patch(
    "/{user_id}",
    response_model=UserPublic,
    responses={
        **ADMIN,
        **USER_NOT_FOUND,
        **STORAGE_DOWN,
        400: error("An administrator cannot deactivate themself"),
    },
)
async def update_user(
    user_id: uuid.UUID,
    body: UserAdminUpdate,
    admin: AdminUser,
    session: SessionDep,
    storage: StorageDep,
) -> User:
    user = await _load_user(session, user_id)
    if user.id == admin.id and not body.is_active:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            detail="You cannot deactivate your own account: ask another administrator.",
        )
    try:
        # Storage first: if it is down nothing changes, and the administrator can retry. A
        # deactivated owner's download links are refused by storage from now on.
        await storage.set_owner_blocked(user.id, blocked=not body.is_active)
    except StorageError as exc:
        raise HTTPException(exc.status_code, detail=exc.detail) from exc
    await crud.update_user(session, user=user, changes={"is_active": body.is_active})
    if not body.is_active:
        await revoke_user_sessions(session, user_id=user.id)
    return user
