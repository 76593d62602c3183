import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy import func, select, update

from app.core.config import settings
from app.core.db import SessionFactory
from app.models import RefreshToken, User
from tests.conftest import PASSWORD, Member, create_user, login

pytestmark = pytest.mark.anyio


async def _post_with_cookie(
    client: httpx.AsyncClient, path: str, cookie: str | None
) -> httpx.Response:
    """POST with exactly this refresh cookie (or none), whatever the client's jar holds."""
    client.cookies.clear()
    headers = {"Cookie": f"refresh_token={cookie}"} if cookie else {}
    return await client.post(path, headers=headers)


def _unique_email() -> str:
    return f"new-{uuid.uuid4().hex[:12]}@Example.COM"


async def test_register_returns_the_public_user_with_a_lowercased_email(
    client: httpx.AsyncClient,
) -> None:
    email = _unique_email()
    response = await client.post(
        "/api/auth/register", json={"email": email, "password": PASSWORD, "full_name": "Ada"}
    )
    assert response.status_code == 201
    body = response.json()
    assert body["email"] == email.lower()
    assert body["full_name"] == "Ada"
    assert body["role"] == "user"
    assert body["is_active"] is True
    # Mail is off in this suite: nothing waits for a verification.
    assert (body["email_verified"], body["pending_email"]) == (True, None)
    assert set(body) == {
        "id", "email", "full_name", "role", "is_active", "created_at", "email_verified",
        "pending_email",
    }  # fmt: skip


async def test_register_refuses_a_taken_email_whatever_its_case(
    client: httpx.AsyncClient, user: Member
) -> None:
    response = await client.post(
        "/api/auth/register", json={"email": user.email.upper(), "password": PASSWORD}
    )
    assert response.status_code == 409
    assert response.json() == {"detail": "An account with this e-mail address already exists."}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "not-an-email", "password": PASSWORD}, "email"),
        ({"email": "a@example.com", "password": "short"}, "password"),
        ({"email": "a@example.com", "password": "x" * 129}, "password"),
        ({"email": "a@example.com", "password": PASSWORD, "role": "admin"}, "role"),
    ],
    ids=["bad-email", "short-password", "long-password", "role-smuggled"],
)
async def test_register_explains_invalid_input_without_echoing_it(
    client: httpx.AsyncClient, body: dict, field: str
) -> None:
    response = await client.post("/api/auth/register", json=body)
    assert response.status_code == 422
    errors = response.json()["detail"]
    assert [error["loc"][-1] for error in errors] == [field]
    assert set(errors[0]) == {"loc", "msg", "type"}  # no "input": a password is never echoed


async def test_login_sets_an_http_only_secure_strict_refresh_cookie(
    client: httpx.AsyncClient, user: Member
) -> None:
    response = await client.post(
        "/api/auth/login", data={"username": user.email.upper(), "password": user.password}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 15 * 60
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("refresh_token=")
    for attribute in ("HttpOnly", "Secure", "SameSite=strict", "Path=/api/auth"):
        assert attribute in cookie
    assert response.headers["cache-control"] == "no-store"
    me = await client.get(
        "/api/users/me", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert me.json()["email"] == user.email


@pytest.mark.parametrize("known_email", [True, False], ids=["wrong-password", "unknown-email"])
async def test_login_refuses_bad_credentials_with_the_same_answer(
    client: httpx.AsyncClient, user: Member, known_email: bool
) -> None:
    email = user.email if known_email else "nobody@example.com"
    response = await client.post(
        "/api/auth/login", data={"username": email, "password": "wrong-pass"}
    )
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json() == {"detail": "Incorrect e-mail address or password."}


async def test_login_takes_as_long_for_an_unknown_email_as_for_a_wrong_password(
    client: httpx.AsyncClient, user: Member
) -> None:
    async def duration(email: str) -> float:
        started = time.perf_counter()
        await client.post("/api/auth/login", data={"username": email, "password": "wrong-pass"})
        return time.perf_counter() - started

    known = statistics.median([await duration(user.email) for _ in range(3)])
    unknown = statistics.median([await duration("ghost@example.com") for _ in range(3)])
    # Without the dummy verification an unknown e-mail answers ~50x faster.
    assert unknown > known * 0.4


async def test_login_of_a_deactivated_account_is_refused(
    client: httpx.AsyncClient, user: Member
) -> None:
    async with SessionFactory() as session:
        await session.execute(update(User).where(User.id == user.id).values(is_active=False))
        await session.commit()
    response = await client.post(
        "/api/auth/login", data={"username": user.email, "password": user.password}
    )
    assert response.status_code == 403
    assert response.json() == {
        "detail": "This account is deactivated: ask an administrator to reactivate it."
    }


async def test_login_upgrades_a_hash_made_with_older_parameters(
    client: httpx.AsyncClient, user: Member
) -> None:
    old = PasswordHash((Argon2Hasher(memory_cost=8192, time_cost=1, parallelism=1),))
    async with SessionFactory() as session:
        await session.execute(
            update(User).where(User.id == user.id).values(hashed_password=old.hash(user.password))
        )
        await session.commit()
    await login(client, user.email, user.password)
    async with SessionFactory() as session:
        stored = await session.scalar(select(User.hashed_password).where(User.id == user.id))
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")


async def test_refresh_rotates_the_cookie_and_gives_a_working_access_token(
    client: httpx.AsyncClient, user: Member
) -> None:
    first_cookie = client.cookies["refresh_token"]
    response = await client.post("/api/auth/refresh")
    assert response.status_code == 200
    assert client.cookies["refresh_token"] != first_cookie
    token = response.json()["access_token"]
    me = await client.get("/api/users/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200


async def test_reusing_a_rotated_refresh_token_ends_the_whole_session(
    client: httpx.AsyncClient, user: Member
) -> None:
    stolen = client.cookies["refresh_token"]
    assert (await client.post("/api/auth/refresh")).status_code == 200
    current = client.cookies["refresh_token"]

    replay = await _post_with_cookie(client, "/api/auth/refresh", stolen)
    assert replay.status_code == 401
    assert replay.headers["www-authenticate"] == "Bearer"
    assert 'refresh_token=""' in replay.headers["set-cookie"]  # the stale cookie is cleared
    # The legitimate holder's newer token belonged to the same family: revoked too.
    after = await _post_with_cookie(client, "/api/auth/refresh", current)
    assert after.status_code == 401
    assert after.json() == {"detail": "Your session has ended: log in again."}


@pytest.mark.parametrize(
    ("cookie", "detail"),
    [
        (None, "You are not logged in."),
        ("not-a-jwt", "Your session has expired: log in again."),
    ],
    ids=["no-cookie", "garbage-cookie"],
)
async def test_refresh_without_a_valid_cookie_is_refused(
    client: httpx.AsyncClient, cookie: str | None, detail: str
) -> None:
    response = await _post_with_cookie(client, "/api/auth/refresh", cookie)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json() == {"detail": detail}


@pytest.mark.parametrize("cookie", [None, "not-a-jwt"], ids=["no-cookie", "garbage-cookie"])
async def test_resuming_without_a_session_answers_no_content_not_an_error(
    client: httpx.AsyncClient, cookie: str | None
) -> None:
    """A page opening in a signed-out browser asks /session: 204, so nothing fails in its
    console."""
    response = await _post_with_cookie(client, "/api/auth/session", cookie)
    assert response.status_code == 204
    assert response.content == b""
    # A stale cookie is cleared; a browser that sent none is not sent one.
    assert ('refresh_token=""' in response.headers.get("set-cookie", "")) == (cookie is not None)


async def test_resuming_a_session_rotates_the_cookie_like_refresh(
    client: httpx.AsyncClient, user: Member
) -> None:
    first_cookie = client.cookies["refresh_token"]
    response = await client.post("/api/auth/session")
    assert response.status_code == 200
    assert client.cookies["refresh_token"] != first_cookie
    token = response.json()["access_token"]
    me = await client.get("/api/users/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200
    # The rotated-away cookie ends the session, as for /refresh: afterwards, "signed out".
    replay = await _post_with_cookie(client, "/api/auth/session", first_cookie)
    assert replay.status_code == 204


async def test_an_access_token_is_not_accepted_as_a_refresh_token(
    client: httpx.AsyncClient, user: Member
) -> None:
    access = user.headers["Authorization"].removeprefix("Bearer ")
    response = await _post_with_cookie(client, "/api/auth/refresh", access)
    assert response.status_code == 401


async def test_logout_clears_the_cookie_and_revokes_the_session(
    client: httpx.AsyncClient, user: Member
) -> None:
    cookie = client.cookies["refresh_token"]
    response = await client.post("/api/auth/logout")
    assert response.status_code == 204
    assert 'refresh_token=""' in response.headers["set-cookie"]
    assert "Max-Age=0" in response.headers["set-cookie"]
    again = await _post_with_cookie(client, "/api/auth/refresh", cookie)
    assert again.status_code == 401


@pytest.mark.parametrize("cookie", [None, "garbage"], ids=["no-cookie", "garbage-cookie"])
async def test_logout_without_a_valid_session_still_succeeds(
    client: httpx.AsyncClient, cookie: str | None
) -> None:
    response = await _post_with_cookie(client, "/api/auth/logout", cookie)
    assert response.status_code == 204


async def test_a_refresh_token_of_a_deactivated_account_is_refused(
    client: httpx.AsyncClient, user: Member
) -> None:
    async with SessionFactory() as session:
        await session.execute(update(User).where(User.id == user.id).values(is_active=False))
        await session.commit()
    response = await client.post("/api/auth/refresh")
    assert response.status_code == 401


async def test_two_users_sessions_are_independent(client: httpx.AsyncClient) -> None:
    first = await create_user(client)
    first_cookie = client.cookies["refresh_token"]
    client.cookies.clear()
    await create_user(client)
    await client.post("/api/auth/logout")
    response = await _post_with_cookie(client, "/api/auth/refresh", first_cookie)
    assert response.status_code == 200, first.email


async def test_logging_in_clears_the_accounts_expired_refresh_tokens(
    client: httpx.AsyncClient, user: Member
) -> None:
    async with SessionFactory() as session:
        session.add(
            RefreshToken(
                id=uuid.uuid4(),
                family_id=uuid.uuid4(),
                user_id=user.id,
                expires_at=datetime.now(UTC) - timedelta(days=1),
            )
        )
        await session.commit()
    await login(client, user.email, user.password)
    async with SessionFactory() as session:
        expired = await session.scalar(
            select(func.count())
            .select_from(RefreshToken)
            .where(RefreshToken.user_id == user.id, RefreshToken.expires_at < datetime.now(UTC))
        )
    assert expired == 0


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("12345678", "This is a top-10 common password."),
        ("password", "This is a top-10 common password."),
        (" " * 8, 'Repeats like "aaa" are easy to guess.'),
        ("closo-2026", "It contains your e-mail address, your name or the site's name."),
        ("grace.hopper", "It contains your e-mail address, your name or the site's name."),
    ],
)
async def test_register_refuses_common_and_personal_passwords_and_says_why(
    client: httpx.AsyncClient, password: str, reason: str
) -> None:
    email = f"grace.hopper@{uuid.uuid4().hex[:6]}.example.com"
    response = await client.post("/api/auth/register", json={"email": email, "password": password})
    assert response.status_code == 422
    (problem,) = response.json()["detail"]
    assert problem["loc"] == ["body", "password"]
    assert problem["type"] == "password_too_weak"
    assert problem["msg"].startswith("This password is too easy to guess: ")
    assert reason in problem["msg"]


@pytest.mark.parametrize(
    ("email", "problem"),
    [
        ("admin\u200b@example.com", "invisible, control or direction characters (U+200B)"),
        ("admin@example.com\u202e", "invisible, control or direction characters (U+202E)"),
        ("\u0430dmin@example.com", "mixes letters of different alphabets (Cyrillic, Latin)"),
        ("\u0430\u0501\u043c\u0456\u043f@example.com", "mixes letters of different alphabets"),
    ],
)
async def test_register_refuses_look_alike_addresses(
    client: httpx.AsyncClient, email: str, problem: str
) -> None:
    response = await client.post("/api/auth/register", json={"email": email, "password": PASSWORD})
    assert response.status_code == 422
    assert problem in response.json()["detail"][0]["msg"]


async def test_fullwidth_letters_are_the_same_address_so_the_admin_cannot_be_imitated(
    client: httpx.AsyncClient,
) -> None:
    fullwidth = "".join(
        chr(ord(c) + 0xFEE0) if c.isalnum() else c for c in settings.FIRST_ADMIN_EMAIL
    )
    response = await client.post(
        "/api/auth/register", json={"email": fullwidth.upper(), "password": PASSWORD}
    )
    assert response.status_code == 409
    # The same normalisation applies at log-in.
    assert (
        await client.post(
            "/api/auth/login",
            data={"username": fullwidth, "password": settings.FIRST_ADMIN_PASSWORD},
        )
    ).status_code == 200


async def test_an_address_in_one_other_alphabet_is_accepted(client: httpx.AsyncClient) -> None:
    # Cyrillic throughout (digits belong to no alphabet): грейс123456@пример.рф
    local = "\u0433\u0440\u0435\u0439\u0441" + str(uuid.uuid4().int % 10**6)
    email = f"{local}@\u043f\u0440\u0438\u043c\u0435\u0440.\u0440\u0444"
    response = await client.post("/api/auth/register", json={"email": email, "password": PASSWORD})
    assert response.status_code == 201, response.text


async def test_failed_logins_are_throttled_per_account_whatever_the_address(
    client: httpx.AsyncClient, user: Member, app
) -> None:
    client.cookies.clear()
    statuses = []
    for attempt in range(7):
        response = await client.post(
            "/api/auth/login",
            headers={"X-Forwarded-For": f"2001:db8::{attempt}"},
            data={"username": user.email, "password": "a wrong guess"},
        )
        statuses.append(response.status_code)
    assert statuses[:5] == [401] * 5
    assert statuses[6] == 429
    assert response.json()["detail"].startswith("Too many failed attempts for this account")
    assert 0 < int(response.headers["Retry-After"]) <= 30
    # The right password from a new browser waits too: guessing stays slow.
    right = await client.post(
        "/api/auth/login", data={"username": user.email, "password": user.password}
    )
    assert right.status_code == 429


async def test_a_browser_that_signed_in_before_is_not_locked_out_by_an_attacker(
    client: httpx.AsyncClient, app
) -> None:
    member = await create_user(client)  # this browser signed in: it holds a device cookie
    assert client.cookies.get("device", path="/api/auth")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as attacker:
        for _ in range(8):
            await attacker.post(
                "/api/auth/login", data={"username": member.email, "password": "guess"}
            )
        blocked = await attacker.post(
            "/api/auth/login", data={"username": member.email, "password": member.password}
        )
        assert blocked.status_code == 429
    await login(client, member.email, member.password)


async def test_unknown_addresses_are_throttled_like_real_ones(client: httpx.AsyncClient) -> None:
    email = _unique_email()
    statuses = [
        (
            await client.post("/api/auth/login", data={"username": email, "password": "guess"})
        ).status_code
        for _ in range(7)
    ]
    assert statuses[:5] == [401] * 5 and statuses[6] == 429


async def test_an_access_token_stops_working_at_logout(client: httpx.AsyncClient) -> None:
    member = await create_user(client)
    assert (await client.get("/api/users/me", headers=member.headers)).status_code == 200
    assert (await client.post("/api/auth/logout")).status_code == 204
    response = await client.get("/api/users/me", headers=member.headers)
    assert response.status_code == 401
    assert response.json() == {"detail": "Your session has ended: log in again."}


async def test_an_access_token_stops_working_when_reuse_of_its_refresh_cookie_is_detected(
    client: httpx.AsyncClient,
) -> None:
    member = await create_user(client)
    first = client.cookies["refresh_token"]
    assert (await _post_with_cookie(client, "/api/auth/refresh", first)).status_code == 200
    fresh = (await client.post("/api/auth/refresh")).json()["access_token"]
    assert (await _post_with_cookie(client, "/api/auth/refresh", first)).status_code == 401
    for token in (member.headers["Authorization"], f"Bearer {fresh}"):
        response = await client.get("/api/users/me", headers={"Authorization": token})
        assert response.status_code == 401
