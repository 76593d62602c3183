import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy import func, select, update

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
    assert set(body) == {"id", "email", "full_name", "role", "is_active", "created_at"}


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
    assert response.json() == {"detail": "This account is deactivated."}


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
