"""Dependencies of the routes, as Annotated aliases (SessionDep, CurrentUser, AdminUser, …).

All `async def`: FastAPI runs a plain `def` dependency in a worker thread, a cost paid on
every authenticated request.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, Any

import jwt
from fastapi import Depends, HTTPException, Query, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import get_session
from app.core.messages import say
from app.core.observability import note_user
from app.core.security import decode_token
from app.crud import Account, get_account
from app.models import Role
from app.services import throttle
from app.services.storage import StorageClient

# tokenUrl lets the /api/docs "Authorize" button log in with the password form.
oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/auth/login")

SessionDep = Annotated[AsyncSession, Depends(get_session)]
TokenDep = Annotated[str, Depends(oauth2_scheme)]


def too_many_attempts(seconds: int) -> HTTPException:
    return HTTPException(
        status.HTTP_429_TOO_MANY_REQUESTS,
        detail=say("too_many_attempts", seconds=seconds),
        headers={"Retry-After": str(seconds)},
    )


@contextmanager
def one_check_at_a_time(key: str) -> Iterator[None]:
    """429 while a password check of the same account runs (services/throttle.one_at_a_time)."""
    try:
        with throttle.one_at_a_time(key):
            yield
    except throttle.BusyError as exc:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            detail=say("password_check_running"),
            headers={"Retry-After": "1"},
        ) from exc


def invalid_field(
    field: str, message: str, error_type: str = "value_error"
) -> RequestValidationError:
    """A 422 of the same shape as FastAPI's, for a rule checked in the route (see core/errors);
    `message` is from core/messages, in the site's language."""
    return RequestValidationError([{"loc": ("body", field), "msg": message, "type": error_type}])


def unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"}
    )


async def get_access_claims(token: TokenDep) -> dict[str, Any]:
    try:
        return decode_token(token, expected_type="access")
    except jwt.ExpiredSignatureError as exc:
        raise unauthorized(say("session_expired")) from exc
    except jwt.InvalidTokenError as exc:
        raise unauthorized(say("token_invalid")) from exc


AccessClaims = Annotated[dict[str, Any], Depends(get_access_claims)]


async def get_current_user(claims: AccessClaims) -> Account:
    user = await get_account(user_id=claims["sub"], session_id=claims["sid"])
    if user is None:
        raise unauthorized(say("account_gone"))
    if not user.is_active:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail=say("account_deactivated"))
    if not user.session_open:  # logged out, ended elsewhere, or its refresh cookie was reused
        raise unauthorized(say("session_ended"))
    note_user(user.id)  # logs and error reports name the account by id
    return user


CurrentUser = Annotated[Account, Depends(get_current_user)]


async def get_admin_user(user: CurrentUser) -> Account:
    if user.role != Role.ADMIN:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail=say("admins_only"))
    return user


AdminUser = Annotated[Account, Depends(get_admin_user)]


async def get_current_session_id(claims: AccessClaims) -> uuid.UUID:
    return claims["sid"]


CurrentSessionId = Annotated[uuid.UUID, Depends(get_current_session_id)]


async def get_storage(request: Request) -> StorageClient:
    return request.app.state.storage


StorageDep = Annotated[StorageClient, Depends(get_storage)]


@dataclass(frozen=True)
class Pagination:
    offset: int
    limit: int


async def get_pagination(
    offset: Annotated[int, Query(ge=0, le=1_000_000, description="Items to skip")] = 0,
    limit: Annotated[int, Query(ge=1, le=100, description="Items per page")] = 20,
) -> Pagination:
    return Pagination(offset=offset, limit=limit)


PaginationDep = Annotated[Pagination, Depends(get_pagination)]
