"""Sign-up, log-in, token refresh (rotating refresh cookie) and log-out."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated

import jwt
from fastapi import APIRouter, Cookie, Form, HTTPException, Response, status
from fastapi.responses import JSONResponse

from app import crud
from app.api.deps import (
    SessionDep,
    invalid_field,
    too_many_attempts,
    unauthorized,
)
from app.api.responses import error
from app.core.config import settings
from app.core.db import release
from app.core.messages import say
from app.core.passwords import context_words, password_weakness
from app.core.security import (
    create_device_token,
    decode_token,
    hash_password,
    verify_password,
)
from app.mail import outbox
from app.models import LinkKind, User
from app.schemas import (
    PASSWORD_MAX_LENGTH,
    InvitationLookup,
    InvitationPublic,
    PasswordReset,
    RegistrationPublic,
    Token,
    UserCreate,
    UserPublic,
    normalise_email,
)
from app.services import account_links, throttle, verification
from app.services.sessions import (
    IssuedTokens,
    SessionRefusedError,
    revoke_family,
    revoke_user_sessions,
    rotate_session,
    start_session,
)

router = APIRouter(prefix="/auth", tags=["auth"])

REFRESH_COOKIE = "refresh_token"
# The browser sends the refresh cookie to the auth routes only, never to the rest of the API.
REFRESH_COOKIE_PATH = "/api/auth"
RefreshCookie = Annotated[str | None, Cookie(alias=REFRESH_COOKIE)]
# Which refusal a 403 of the log-in is, for the sign-in page (the detail is for people).
ERROR_CODE_HEADER = "X-Error-Code"
# Set at a successful log-in: this browser has signed in to the account before, so the failed
# attempts of others do not hold it back (services/throttle.py).
DEVICE_COOKIE = "device"
DEVICE_LIFETIME = timedelta(days=365)
DeviceCookie = Annotated[str | None, Cookie(alias=DEVICE_COOKIE)]


def password_context(email: str, full_name: str | None) -> list[str]:
    """Words a password must not be built on: the account's and the site's."""
    return context_words(email, full_name, settings.PROJECT_NAME, settings.DOMAIN)


def _trusted_device(cookie: str | None, user: User | None) -> uuid.UUID | None:
    if not cookie or user is None:
        return None
    try:
        claims = decode_token(cookie, expected_type="device")
    except jwt.InvalidTokenError:
        return None
    return claims["sid"] if claims["sub"] == user.id else None


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


@router.get("/registration", response_model=RegistrationPublic)
async def read_registration() -> RegistrationPublic:
    """Who may sign up (REGISTRATION): the sign-in page offers sign-up only when it is open."""
    return RegistrationPublic(registration=settings.REGISTRATION, mail=settings.mail_enabled)


@router.post(
    "/invitation",
    response_model=InvitationPublic,
    responses={400: error("The invitation link is unknown, used or expired")},
)
async def read_invitation(body: InvitationLookup, session: SessionDep) -> InvitationPublic:
    """The address an invitation link was made for, so the join page fills it in; or, before
    anyone types, why the link no longer works. Signing up with it still checks it again."""
    try:
        link = await account_links.check(session, kind=LinkKind.INVITATION, token=body.token)
    except account_links.LinkRefusedError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=str(exc)) from exc
    return InvitationPublic(email=link.email)


@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    response_model=UserPublic,
    responses={
        400: error("The invitation link is unknown, used, expired or for another e-mail"),
        403: error("Sign-up needs an invitation (REGISTRATION=invite) or is closed"),
        409: error("An account with this e-mail address already exists"),
    },
)
async def register_user(body: UserCreate, session: SessionDep) -> object:
    if body.invitation is None and settings.REGISTRATION != "open":
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, detail=say(f"registration_{settings.REGISTRATION}")
        )
    weakness = await password_weakness(
        body.password, context=password_context(body.email, body.full_name)
    )
    if weakness:
        raise invalid_field("password", weakness, "password_too_weak")
    hashed = await hash_password(body.password)
    if body.invitation is not None:
        try:
            # Used in the same transaction as the account is created: both or neither.
            await account_links.consume(
                session, kind=LinkKind.INVITATION, token=body.invitation, email=body.email
            )
        except account_links.LinkRefusedError as exc:
            await session.rollback()
            raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=str(exc)) from exc
    try:
        user = await crud.add_user(
            session, email=body.email, hashed_password=hashed, full_name=body.full_name
        )
    except crud.EmailTakenError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=say("email_taken")) from exc
    if body.invitation is None and outbox.enabled():
        # Anyone may sign up with any address: the account is usable once the address's owner
        # opens the link mailed to it (services/verification.py), committed with the account.
        user.email_verified = False
        await verification.mail_link(session, user=user, address=user.email)
    await session.commit()
    await session.refresh(user)
    return user


@router.post(
    "/reset-password",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={400: error("The reset link is unknown, used, expired or for another e-mail")},
)
async def reset_password(body: PasswordReset, session: SessionDep) -> Response:
    """Set a new password with a one-time link (an administrator's or a mailed one); ends
    every session."""
    try:
        link = await account_links.check(
            session, kind=LinkKind.PASSWORD_RESET, token=body.token, email=body.email
        )
    except account_links.LinkRefusedError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=str(exc)) from exc
    user = await session.get(User, link.user_id) if link.user_id else None
    if user is None:  # pragma: no cover - the link is deleted with its account
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=say("link_unknown"))
    await release(session)  # hold no connection during the strength check and the hashing
    weakness = await password_weakness(
        body.new_password, context=password_context(user.email, user.full_name)
    )
    if weakness:
        raise invalid_field("new_password", weakness, "password_too_weak")
    hashed = await hash_password(body.new_password)
    try:
        # Used in the same transaction as the password is set: both or neither.
        link = await account_links.consume(
            session, kind=LinkKind.PASSWORD_RESET, token=body.token, email=body.email
        )
    except account_links.LinkRefusedError as exc:  # used by someone else meanwhile
        await session.rollback()
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=str(exc)) from exc
    user = await session.get(User, link.user_id, populate_existing=True)
    if user is None:  # pragma: no cover - deleted meanwhile (its links go with it)
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=say("link_unknown"))
    user.hashed_password = hashed
    if link.created_by_id is None and link.email == user.email:
        user.email_verified = True  # the link was mailed to this address: its owner opened it
    # Whoever made the link could set the password this way: the log says so.
    issuer = await session.get(User, link.created_by_id) if link.created_by_id else None
    outbox.enqueue(session, kind="password_changed", recipient=user.email)
    await crud.add_audit_entry(
        session,
        actor=user,
        action="password_reset_used" if link.created_by_id else "password_reset_used_mail",
        target=user,
        detail=issuer.email if issuer else None,
    )
    await session.commit()
    await revoke_user_sessions(session, user_id=user.id)
    await throttle.clear(session, key=f"login:{user.email}")
    await session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/login",
    response_model=Token,
    responses={
        401: error("Incorrect e-mail address or password"),
        403: error(
            "The account is deactivated, or its address is not verified yet (then the "
            "X-Error-Code header says email_unverified)"
        ),
        429: error("Too many failed attempts for this account (Retry-After)"),
    },
)
async def login(
    response: Response,
    session: SessionDep,
    username: Annotated[str, Form(max_length=254, description="The account's e-mail address")],
    password: Annotated[str, Form(max_length=PASSWORD_MAX_LENGTH)],
    device_cookie: DeviceCookie = None,
) -> Token:
    try:
        email: str | None = normalise_email(username)
    except ValueError:
        email = None  # no account can have this name (a NUL byte, say): a wrong log-in
    user = await crud.get_user_by_email(session, email=email) if email else None
    device = _trusted_device(device_cookie, user)
    key = f"device:{device}" if device else f"login:{email}"
    if email and (wait := await throttle.retry_after(session, key=key)):
        raise too_many_attempts(wait)
    await release(session)  # hold no connection while waiting for a hashing slot
    valid, new_hash = await verify_password(password, user.hashed_password if user else None)
    if user is None or not valid:
        if email:  # unknown addresses too: the answer must not tell which accounts exist
            await throttle.record_failure(session, key=key)
        raise unauthorized(say("login_failed"))
    if not user.is_active:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail=say("account_deactivated"))
    if not user.email_verified and outbox.enabled():
        # Said only to whoever knows the password; the sign-in page offers a new link.
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail=say("email_unverified", email=user.email),
            headers={ERROR_CODE_HEADER: "email_unverified"},
        )
    if new_hash:  # hashed with older parameters: upgrade it now that the password is known
        user.hashed_password = new_hash
    await throttle.clear(session, key=key)
    if device is None:
        response.set_cookie(
            DEVICE_COOKIE,
            create_device_token(user_id=user.id, lifetime=DEVICE_LIFETIME),
            max_age=int(DEVICE_LIFETIME.total_seconds()),
            path=REFRESH_COOKIE_PATH,
            secure=True,
            httponly=True,
            samesite="strict",
        )
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
        return _session_refused(say("not_logged_in"))
    try:
        claims = decode_token(refresh_token, expected_type="refresh")
    except jwt.InvalidTokenError:
        return _session_refused(say("session_expired"))
    try:
        _, tokens = await rotate_session(session, claims=claims)
    except SessionRefusedError:
        return _session_refused(say("session_ended"))
    return _token_response(response, tokens)


@router.post(
    "/session",
    response_model=Token,
    responses={204: {"description": "No session: this browser is signed out"}},
)
async def resume_session(
    response: Response, session: SessionDep, refresh_token: RefreshCookie = None
) -> object:
    """The refresh of a page that has just opened: "signed out" is an answer here (204), not an
    error, so a guest's visit logs no failed request in the browser. Rotates like /refresh."""
    answer = await refresh_access_token(response, session, refresh_token)
    if not isinstance(answer, JSONResponse):
        return answer
    signed_out = Response(
        status_code=status.HTTP_204_NO_CONTENT, headers={"Cache-Control": "no-store"}
    )
    return _clear_cookie(signed_out) if refresh_token else signed_out


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
