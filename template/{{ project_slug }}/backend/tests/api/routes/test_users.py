import uuid
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import psycopg
import pytest

from app.core.config import settings
from app.core.security import create_refresh_token
from tests.conftest import PASSWORD, Member, create_user, login

pytestmark = pytest.mark.anyio
WRONG_PASSWORD = "The current password is wrong: enter the one you sign in with."  # noqa: S105


def _token(claims: dict, *, key: str | None = None, algorithm: str = "HS256") -> dict[str, str]:
    now = datetime.now(UTC)
    payload = {"iat": now, "exp": now + timedelta(minutes=5), "type": "access", **claims}
    token = jwt.encode(payload, key or settings.SECRET_KEY, algorithm=algorithm)
    return {"Authorization": f"Bearer {token}"}


async def test_me_returns_the_callers_account(client: httpx.AsyncClient, user: Member) -> None:
    response = await client.get("/api/users/me", headers=user.headers)
    assert response.status_code == 200
    assert response.json()["email"] == user.email
    assert response.json()["id"] == str(user.id)
    assert "hashed_password" not in response.json()


def _unsigned(claims: dict) -> str:
    import base64
    import json

    def part(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


BAD_TOKENS = {
    "no-token": lambda user: {},
    "not-a-jwt": lambda user: {"Authorization": "Bearer not.a.jwt"},
    "expired": lambda user: _token(
        {
            "sub": str(user.id),
            "sid": str(uuid.uuid4()),
            "exp": datetime.now(UTC) - timedelta(seconds=1),
        }
    ),
    "other-key": lambda user: _token({"sub": str(user.id), "sid": str(uuid.uuid4())}, key="k" * 64),
    "hs512-same-key": lambda user: _token(
        {"sub": str(user.id), "sid": str(uuid.uuid4())}, algorithm="HS512"
    ),
    "alg-none": lambda user: {
        "Authorization": "Bearer "
        + _unsigned(
            {
                "sub": str(user.id),
                "sid": str(uuid.uuid4()),
                "type": "access",
                "iat": 1,
                "exp": 4102444800,
            }
        )
    },
    "no-type": lambda user: _token({"sub": str(user.id), "sid": str(uuid.uuid4()), "type": None}),
    "no-sid": lambda user: _token({"sub": str(user.id)}),
    "sub-not-uuid": lambda user: _token({"sub": "42", "sid": str(uuid.uuid4())}),
    "refresh-as-access": lambda user: {
        "Authorization": "Bearer "
        + create_refresh_token(user_id=user.id, token_id=uuid.uuid4(), family_id=uuid.uuid4())[0]
    },
    "unknown-user": lambda user: _token({"sub": str(uuid.uuid4()), "sid": str(uuid.uuid4())}),
}


@pytest.mark.parametrize("make_headers", BAD_TOKENS.values(), ids=BAD_TOKENS.keys())
async def test_me_refuses_every_bad_token_with_401_bearer(
    client: httpx.AsyncClient, user: Member, make_headers
) -> None:
    response = await client.get("/api/users/me", headers=make_headers(user))
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert isinstance(response.json()["detail"], str)


async def test_an_expired_token_says_so(client: httpx.AsyncClient, user: Member) -> None:
    response = await client.get("/api/users/me", headers=BAD_TOKENS["expired"](user))
    assert response.json() == {"detail": "Your session has expired: log in again."}


async def test_update_me_changes_name_and_email(client: httpx.AsyncClient, user: Member) -> None:
    new_email = f"Renamed-{uuid.uuid4().hex[:8]}@Example.com"
    response = await client.patch(
        "/api/users/me",
        headers=user.headers,
        json={"full_name": "Grace", "email": new_email, "current_password": user.password},
    )
    assert response.status_code == 200
    assert response.json()["full_name"] == "Grace"
    assert response.json()["email"] == new_email.lower()
    await login(client, new_email, user.password)


async def test_update_me_ignores_a_null_email_and_can_clear_the_name(
    client: httpx.AsyncClient, user: Member
) -> None:
    response = await client.patch(
        "/api/users/me", headers=user.headers, json={"email": None, "full_name": None}
    )
    assert response.status_code == 200
    assert response.json()["email"] == user.email
    assert response.json()["full_name"] is None


async def test_update_me_refuses_a_taken_email(client: httpx.AsyncClient, user: Member) -> None:
    other = await create_user(client)
    response = await client.patch(
        "/api/users/me",
        headers=user.headers,
        json={"email": other.email.upper(), "current_password": user.password},
    )
    assert response.status_code == 409
    assert "already exists" in response.json()["detail"]


async def test_update_me_cannot_grant_a_role(client: httpx.AsyncClient, user: Member) -> None:
    response = await client.patch("/api/users/me", headers=user.headers, json={"role": "admin"})
    assert response.status_code == 422
    me = await client.get("/api/users/me", headers=user.headers)
    assert me.json()["role"] == "user"


async def test_change_password_needs_the_current_one(
    client: httpx.AsyncClient, user: Member
) -> None:
    response = await client.post(
        "/api/users/me/password",
        headers=user.headers,
        json={"current_password": "not-the-password", "new_password": "a brand new one"},
    )
    assert response.status_code == 400
    assert response.json() == {"detail": WRONG_PASSWORD}


async def test_change_password_refuses_a_short_new_password(
    client: httpx.AsyncClient, user: Member
) -> None:
    response = await client.post(
        "/api/users/me/password",
        headers=user.headers,
        json={"current_password": user.password, "new_password": "short"},
    )
    assert response.status_code == 422


async def test_change_password_logs_out_the_other_sessions_only(
    client: httpx.AsyncClient, app
) -> None:
    member = await create_user(client)  # this client's session
    this_cookie = client.cookies["refresh_token"]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as other:
        await login(other, member.email, member.password)  # another device
        response = await client.post(
            "/api/users/me/password",
            headers=member.headers,
            json={"current_password": member.password, "new_password": "a brand new one"},
        )
        assert response.status_code == 204
        assert (await other.post("/api/auth/refresh")).status_code == 401
    assert client.cookies["refresh_token"] == this_cookie
    assert (await client.post("/api/auth/refresh")).status_code == 200
    old = await client.post(
        "/api/auth/login", data={"username": member.email, "password": member.password}
    )
    assert old.status_code == 401
    await login(client, member.email, "a brand new one")


async def test_listing_users_is_for_administrators(client: httpx.AsyncClient, user: Member) -> None:
    response = await client.get("/api/users", headers=user.headers)
    assert response.status_code == 403
    assert response.json() == {
        "detail": "Administrators only: sign in with an administrator's account."
    }


async def test_administrators_page_through_users(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    for _ in range(3):
        await create_user(client)
    first = await client.get("/api/users?limit=2", headers=admin_headers)
    assert first.status_code == 200
    assert len(first.json()["items"]) == 2
    total = first.json()["total"]
    assert total >= 4
    last = await client.get(f"/api/users?offset={total - 1}&limit=2", headers=admin_headers)
    assert len(last.json()["items"]) == 1
    ids = {item["id"] for item in first.json()["items"]} | {last.json()["items"][0]["id"]}
    assert len(ids) == 3


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "offset=-1", "limit=many"])
async def test_bad_pagination_is_a_readable_422(
    client: httpx.AsyncClient, admin_headers: dict[str, str], query: str
) -> None:
    response = await client.get(f"/api/users?{query}", headers=admin_headers)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][0] == "query"


async def test_deactivating_a_user_locks_them_out_until_reactivated(
    client: httpx.AsyncClient, admin_headers: dict[str, str], user: Member
) -> None:
    response = await client.patch(
        f"/api/users/{user.id}", headers=admin_headers, json={"is_active": False}
    )
    assert response.status_code == 200
    assert response.json()["is_active"] is False
    assert (await client.get("/api/users/me", headers=user.headers)).status_code == 403
    assert (await client.post("/api/auth/refresh")).status_code == 401  # sessions revoked
    refused = await client.post(
        "/api/auth/login", data={"username": user.email, "password": user.password}
    )
    assert refused.status_code == 403

    response = await client.patch(
        f"/api/users/{user.id}", headers=admin_headers, json={"is_active": True}
    )
    assert response.json()["is_active"] is True
    await login(client, user.email, user.password)


async def test_an_administrator_cannot_deactivate_themselves(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    me = (await client.get("/api/users/me", headers=admin_headers)).json()
    assert me["role"] == "admin"
    response = await client.patch(
        f"/api/users/{me['id']}", headers=admin_headers, json={"is_active": False}
    )
    assert response.status_code == 400
    assert "your own account" in response.json()["detail"]


async def test_updating_an_unknown_user_is_404(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    response = await client.patch(
        f"/api/users/{uuid.uuid4()}", headers=admin_headers, json={"is_active": False}
    )
    assert response.status_code == 404


async def test_a_user_cannot_deactivate_anyone(client: httpx.AsyncClient, user: Member) -> None:
    other = await create_user(client, password=PASSWORD)
    response = await client.patch(
        f"/api/users/{other.id}", headers=user.headers, json={"is_active": False}
    )
    assert response.status_code == 403


async def test_me_survives_the_database_cutting_every_connection(
    client: httpx.AsyncClient, user: Member
) -> None:
    """What a database restart does to the pooled connections of a running backend."""
    for _ in range(3):
        assert (await client.get("/api/users/me", headers=user.headers)).status_code == 200
    with psycopg.connect(
        host=settings.POSTGRES_HOST,
        port=settings.POSTGRES_PORT,
        user=settings.POSTGRES_USER,
        password=settings.POSTGRES_PASSWORD,
        dbname="postgres",
        autocommit=True,
    ) as admin:
        cut = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (settings.POSTGRES_DB,),
        ).fetchone()[0]
    assert cut >= 1
    response = await client.get("/api/users/me", headers=user.headers)
    assert response.status_code == 200
    assert response.json()["email"] == user.email


async def test_changing_the_email_needs_the_current_password(
    client: httpx.AsyncClient, user: Member
) -> None:
    new_email = f"taken-over-{uuid.uuid4().hex[:8]}@example.com"
    missing = await client.patch("/api/users/me", headers=user.headers, json={"email": new_email})
    assert missing.status_code == 400
    assert missing.json() == {
        "detail": "Enter your current password to change your e-mail address."
    }
    wrong = await client.patch(
        "/api/users/me",
        headers=user.headers,
        json={"email": new_email, "current_password": "not the password"},
    )
    assert wrong.status_code == 400
    assert wrong.json() == {"detail": WRONG_PASSWORD}
    me = await client.get("/api/users/me", headers=user.headers)
    assert me.json()["email"] == user.email
    # The name alone, or the same address again, needs no password.
    same = await client.patch(
        "/api/users/me", headers=user.headers, json={"email": user.email, "full_name": "Ada"}
    )
    assert same.status_code == 200


async def test_change_password_refuses_common_and_personal_passwords(
    client: httpx.AsyncClient, user: Member
) -> None:
    for weak in ("12345678", "password", " " * 8, user.email, "closo2024!"):
        response = await client.post(
            "/api/users/me/password",
            headers=user.headers,
            json={"current_password": user.password, "new_password": weak},
        )
        assert response.status_code == 422, weak
        (problem,) = response.json()["detail"]
        assert problem["loc"] == ["body", "new_password"]
        assert problem["type"] == "password_too_weak"
        assert problem["msg"].startswith("This password is too easy to guess")
    await login(client, user.email, user.password)  # unchanged


async def test_wrong_current_passwords_are_throttled_per_account(
    client: httpx.AsyncClient, user: Member
) -> None:
    statuses = []
    for _ in range(7):
        response = await client.post(
            "/api/users/me/password",
            headers=user.headers,
            json={"current_password": "a wrong guess", "new_password": "a brand new one"},
        )
        statuses.append(response.status_code)
    assert statuses[:5] == [400] * 5
    assert statuses[6] == 429
    assert 0 < int(response.headers["Retry-After"]) <= 30
    assert "Too many failed attempts for this account" in response.json()["detail"]
    # Even the right password waits: the throttle is checked before the password.
    right = await client.post(
        "/api/users/me/password",
        headers=user.headers,
        json={"current_password": user.password, "new_password": "a brand new one"},
    )
    assert right.status_code == 429


async def test_the_old_access_token_stops_working_after_a_password_change(
    client: httpx.AsyncClient, app
) -> None:
    member = await create_user(client)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as other:
        stolen = await login(other, member.email, member.password)
    assert (await client.get("/api/users/me", headers=stolen)).status_code == 200
    changed = await client.post(
        "/api/users/me/password",
        headers=member.headers,
        json={"current_password": member.password, "new_password": "a brand new one"},
    )
    assert changed.status_code == 204
    for method, path, body in (
        ("GET", "/api/users/me", None),
        ("PATCH", "/api/users/me", {"full_name": "Mallory"}),
        ("GET", "/api/files", None),
    ):
        response = await client.request(method, path, headers=stolen, json=body)
        assert response.status_code == 401, path
        assert response.json() == {"detail": "Your session has ended: log in again."}
    assert (await client.get("/api/users/me", headers=member.headers)).status_code == 200


async def test_a_deactivated_accounts_token_stops_at_once(
    client: httpx.AsyncClient, user: Member, admin_headers: dict[str, str]
) -> None:
    off = await client.patch(
        f"/api/users/{user.id}", headers=admin_headers, json={"is_active": False}
    )
    assert off.status_code == 200
    response = await client.get("/api/users/me", headers=user.headers)
    assert response.status_code == 403
    on = await client.patch(
        f"/api/users/{user.id}", headers=admin_headers, json={"is_active": True}
    )
    assert on.status_code == 200
    # Deactivation ended its sessions: reactivating the account does not revive them.
    assert (await client.get("/api/users/me", headers=user.headers)).status_code == 401
