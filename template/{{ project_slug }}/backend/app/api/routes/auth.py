"""Sign-up, log-in, token refresh (rotating refresh cookie) and log-out."""

from __future__ import annotations

from typing import Annotated

import jwt
from fastapi import APIRouter, Cookie, Form, HTTPException, Response, status
from fastapi.responses import JSONResponse

from app import crud
from app.api.deps import SessionDep, unauthorized
from app.api.responses import error
from app.core.config import settings
from app.core.security import decode_token, hash_password, verify_password
from app.schemas import PASSWORD_MAX_LENGTH, Token, UserCreate, UserPublic
from app.services.sessions import (
    IssuedTokens,
    SessionRefusedError,
    revoke_family,
    rotate_session,
    start_session,
)

router = APIRouter(prefix="/auth", tags=["auth"])

REFRESH_COOKIE = "refresh_token"
# The browser sends the refresh cookie to the auth routes only, never to the rest of the API.
REFRESH_COOKIE_PATH = "/api/auth"
RefreshCookie = Annotated[str | None, Cookie(alias=REFRESH_COOKIE)]


def _token_response(response: Response, tokens: IssuedTokens) -> Token:
    response.set_cookie(
        REFRESH_COOKIE,
        tokens.refresh_token,
        max_age=settings.REFRESH_TOKEN_EXPIRE_DAYS * 86400,
        path=REFRESH_COOKIE_PATH,
        secure=True,
        httponly=True,
        samesite="strict",
    )
    response.headers["Cache-Control"] = "no-store"
    return Token(
        access_token=tokens.access_token, expires_in=settings.ACCESS_TOKEN_EXPIRE_MINUTES * 60
    )


def _clear_cookie(response: Response) -> Response:
    response.delete_cookie(
        REFRESH_COOKIE, path=REFRESH_COOKIE_PATH, secure=True, httponly=True, samesite="strict"
    )
    return response


def _session_refused(detail: str) -> JSONResponse:
    # Returned rather than raised, so the stale cookie is cleared along with the 401.
    response = JSONResponse(
        {"detail": detail},
        status_code=status.HTTP_401_UNAUTHORIZED,
        headers={"WWW-Authenticate": "Bearer"},
    )
    return _clear_cookie(response)  # type: ignore[return-value]


@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    response_model=UserPublic,
    responses={409: error("An account with this e-mail address already exists")},
)
async def register_user(body: UserCreate, session: SessionDep) -> object:
    hashed = await hash_password(body.password)
    try:
        return await crud.create_user(
            session, email=body.email, hashed_password=hashed, full_name=body.full_name
        )
    except crud.EmailTakenError as exc:
        raise HTTPException(
            status.HTTP_409_CONFLICT, detail="An account with this e-mail address already exists."
        ) from exc


@router.post(
    "/login",
    response_model=Token,
    responses={
        401: error("Incorrect e-mail address or password"),
        403: error("The account is deactivated"),
    },
)
async def login(
    response: Response,
    session: SessionDep,
    username: Annotated[str, Form(max_length=254, description="The account's e-mail address")],
    password: Annotated[str, Form(max_length=PASSWORD_MAX_LENGTH)],
) -> Token:
    user = await crud.get_user_by_email(session, email=username.strip().lower())
    valid, new_hash = await verify_password(password, user.hashed_password if user else None)
    if user is None or not valid:
        raise unauthorized("Incorrect e-mail address or password.")
    if not user.is_active:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="This account is deactivated.")
    if new_hash:  # hashed with older parameters: upgrade it now that the password is known
        user.hashed_password = new_hash
    return _token_response(response, await start_session(session, user=user))


@router.post(
    "/refresh",
    response_model=Token,
    responses={401: error("No valid session: sign in again")},
)
async def refresh_access_token(
    response: Response, session: SessionDep, refresh_token: RefreshCookie = None
) -> object:
    if not refresh_token:
        return _session_refused("You are not logged in.")
    try:
        claims = decode_token(refresh_token, expected_type="refresh")
    except jwt.InvalidTokenError:
        return _session_refused("Your session has expired: log in again.")
    try:
        _, tokens = await rotate_session(session, claims=claims)
    except SessionRefusedError:
        return _session_refused("Your session has ended: log in again.")
    return _token_response(response, tokens)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(session: SessionDep, refresh_token: RefreshCookie = None) -> Response:
    if refresh_token:
        try:
            claims = decode_token(refresh_token, expected_type="refresh")
        except jwt.InvalidTokenError:
            pass  # nothing to revoke: the cookie is cleared all the same
        else:
            await revoke_family(session, family_id=claims["sid"])
    return _clear_cookie(Response(status_code=status.HTTP_204_NO_CONTENT))
