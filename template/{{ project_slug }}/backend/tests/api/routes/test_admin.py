"""The operator's side: registration modes, one-time links, administrators' tools, the audit log."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import psycopg
import pytest

from app.api.routes import admin as admin_routes
from app.api.routes import auth as auth_routes
from app.core.config import settings
from tests.conftest import PASSWORD, Member, create_user, login
from tests.storage_fake import FakeStorage

pytestmark = pytest.mark.anyio
NEW_PASSWORD = "tulip quarry sandwich 42"  # noqa: S105 - a test password


def sql(statement: str, params: dict | None = None) -> list[tuple]:
    with psycopg.connect(
        host=settings.POSTGRES_HOST,
        port=settings.POSTGRES_PORT,
        user=settings.POSTGRES_USER,
        password=settings.POSTGRES_PASSWORD,
        dbname=settings.POSTGRES_DB,
        autocommit=True,
    ) as connection:
        cursor = connection.execute(statement, params or {})
        return cursor.fetchall() if cursor.description else []


@pytest.fixture
def registration(monkeypatch: pytest.MonkeyPatch) -> Iterator:
    """Switch REGISTRATION for one test, as settings.env would."""

    def switch(mode: str) -> None:
        changed = settings.model_copy(update={"REGISTRATION": mode})
        monkeypatch.setattr(auth_routes, "settings", changed)
        monkeypatch.setattr(admin_routes, "settings", changed)

    yield switch


def token_of(path: str) -> str:
    return parse_qs(urlsplit(path.replace("#", "")).query)["token"][0]


def new_email(prefix: str = "person") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}@example.com"


async def invite(client: httpx.AsyncClient, headers: dict, email: str) -> str:
    response = await client.post("/api/invitations", headers=headers, json={"email": email})
    assert response.status_code == 201, response.text
    assert response.json()["path"].startswith("/#/join?token=")
    return token_of(response.json()["path"])


async def register(client: httpx.AsyncClient, email: str, invitation: str | None) -> httpx.Response:
    body = {"email": email, "password": PASSWORD, "invitation": invitation}
    return await client.post("/api/auth/register", json=body)


# --- registration modes


@pytest.mark.parametrize("mode", ["open", "invite", "closed"])
async def test_the_registration_mode_is_public(client, registration, mode: str) -> None:
    registration(mode)
    response = await client.get("/api/auth/registration")
    assert response.json() == {"registration": mode, "mail": False}


async def test_invite_mode_refuses_sign_up_without_an_invitation(client, registration) -> None:
    registration("invite")
    response = await register(client, new_email(), None)
    assert response.status_code == 403
    assert "invitation" in response.json()["detail"]


async def test_closed_mode_refuses_sign_up_and_invitations(
    client, registration, admin_headers
) -> None:
    registration("closed")
    response = await register(client, new_email(), None)
    assert response.status_code == 403
    assert "closed" in response.json()["detail"]
    response = await client.post(
        "/api/invitations", headers=admin_headers, json={"email": new_email()}
    )
    assert response.status_code == 409
    assert "create the account" in response.json()["detail"]


async def test_an_invitation_signs_up_its_email_once(client, registration, admin_headers) -> None:
    registration("invite")
    email = new_email()
    token = await invite(client, admin_headers, email)

    wrong = await register(client, new_email(), token)
    assert wrong.status_code == 400
    assert "another e-mail" in wrong.json()["detail"]

    response = await register(client, email.upper(), token)  # the address as typed, any case
    assert response.status_code == 201, response.text
    assert response.json()["email"] == email
    await login(client, email, PASSWORD)

    again = await register(client, new_email(), token)
    assert again.status_code == 400
    assert "already been used" in again.json()["detail"]


async def test_an_expired_or_unknown_invitation_is_refused(
    client, registration, admin_headers
) -> None:
    registration("invite")
    email = new_email()
    token = await invite(client, admin_headers, email)
    sql(
        "UPDATE account_links SET expires_at = now() - interval '1 second' WHERE email = %(e)s",
        {"e": email},
    )
    response = await register(client, email, token)
    assert response.status_code == 400
    assert "expired" in response.json()["detail"]
    response = await register(client, email, "not-a-real-token")
    assert response.status_code == 400
    assert "not valid" in response.json()["detail"]


async def test_an_invitation_for_a_taken_email_is_refused(client, user, admin_headers) -> None:
    response = await client.post(
        "/api/invitations", headers=admin_headers, json={"email": user.email}
    )
    assert response.status_code == 409


async def test_only_admins_invite(client, user) -> None:
    response = await client.post(
        "/api/invitations", headers=user.headers, json={"email": new_email()}
    )
    assert response.status_code == 403


# --- accounts created by an administrator


async def test_an_admin_creates_an_account_in_closed_mode(
    client, registration, admin_headers
) -> None:
    registration("closed")
    email = new_email()
    body = {"email": email, "password": PASSWORD, "full_name": "Grace"}
    response = await client.post("/api/users", headers=admin_headers, json=body)
    assert response.status_code == 201, response.text
    assert response.json()["role"] == "user"
    assert response.json()["used_bytes"] == 0
    await login(client, email, PASSWORD)
    again = await client.post("/api/users", headers=admin_headers, json=body)
    assert again.status_code == 409


async def test_a_weak_password_is_refused_for_a_created_account(client, admin_headers) -> None:
    body = {"email": new_email(), "password": "password1"}
    response = await client.post("/api/users", headers=admin_headers, json=body)
    assert response.status_code == 422


# --- password reset links


async def reset_link(client, admin_headers, member: Member) -> str:
    response = await client.post(f"/api/users/{member.id}/password-reset", headers=admin_headers)
    assert response.status_code == 201, response.text
    assert response.json()["path"].startswith("/#/reset?token=")
    return token_of(response.json()["path"])


async def reset(client, token: str, email: str, password: str = NEW_PASSWORD) -> httpx.Response:
    body = {"token": token, "email": email, "new_password": password}
    return await client.post("/api/auth/reset-password", json=body)


async def test_a_reset_link_sets_a_new_password_once_and_ends_sessions(
    client, user, admin_headers
) -> None:
    token = await reset_link(client, admin_headers, user)
    assert (await reset(client, token, new_email())).status_code == 400  # wrong e-mail
    weak = await reset(client, token, user.email, "password1")
    assert weak.status_code == 422
    response = await reset(client, token, user.email)
    assert response.status_code == 204, response.text
    me = await client.get("/api/users/me", headers=user.headers)
    assert me.status_code == 401  # the old session ended at once
    await login(client, user.email, NEW_PASSWORD)
    refused = await client.post(
        "/api/auth/login", data={"username": user.email, "password": PASSWORD}
    )
    assert refused.status_code == 401
    again = await reset(client, token, user.email, "another fine password 77")
    assert again.status_code == 400
    assert "already been used" in again.json()["detail"]


async def test_an_expired_reset_link_is_refused(client, user, admin_headers) -> None:
    token = await reset_link(client, admin_headers, user)
    sql("UPDATE account_links SET expires_at = now() WHERE user_id = %(u)s", {"u": user.id})
    response = await reset(client, token, user.email)
    assert response.status_code == 400
    assert "expired" in response.json()["detail"]
    await login(client, user.email, PASSWORD)  # nothing changed


# --- roles, and never a site without an active administrator


async def test_promote_demote_and_the_last_active_admin(client, admin_headers) -> None:
    first = (await client.get("/api/users/me", headers=admin_headers)).json()
    others = [
        row[0]
        for row in sql(
            "UPDATE users SET role = 'user' WHERE role = 'admin' AND id <> %(id)s RETURNING id",
            {"id": first["id"]},
        )
    ]
    try:
        alone = await client.patch(
            f"/api/users/{first['id']}", headers=admin_headers, json={"role": "user"}
        )
        assert alone.status_code == 409
        assert "without an active administrator" in alone.json()["detail"]

        second = await create_user(client)
        promoted = await client.patch(
            f"/api/users/{second.id}", headers=admin_headers, json={"role": "admin"}
        )
        assert promoted.json()["role"] == "admin"
        demoted = await client.patch(
            f"/api/users/{first['id']}", headers=admin_headers, json={"role": "user"}
        )
        assert demoted.status_code == 200
        # The second is now the only one: they can neither step down nor be deactivated.
        refused = await client.patch(
            f"/api/users/{second.id}", headers=second.headers, json={"role": "user"}
        )
        assert refused.status_code == 409
        restored = await client.patch(
            f"/api/users/{first['id']}", headers=second.headers, json={"role": "admin"}
        )
        assert restored.status_code == 200
    finally:
        sql("UPDATE users SET role = 'admin' WHERE id = %(id)s", {"id": first["id"]})
        for user_id in others:
            sql("UPDATE users SET role = 'admin' WHERE id = %(id)s", {"id": user_id})


async def test_a_null_role_is_refused(client, user, admin_headers) -> None:
    response = await client.patch(
        f"/api/users/{user.id}", headers=admin_headers, json={"role": None}
    )
    assert response.status_code == 422


# --- usage, quota override, deletion


async def upload(client, member: Member, data: bytes) -> httpx.Response:
    files = {"file": ("data.bin", data, "application/octet-stream")}
    return await client.post("/api/upload", headers=member.headers, files=files)


async def test_people_see_their_limits_and_admins_see_usage(client, user, admin_headers) -> None:
    assert (await upload(client, user, b"a" * 1000)).status_code == 201
    usage = (await client.get("/api/files/usage", headers=user.headers)).json()
    assert usage == {
        "file_count": 1,
        "used_bytes": 1000,
        "quota_bytes": settings.USER_QUOTA_MB * 1_000_000,
        "max_upload_bytes": settings.MAX_UPLOAD_MB * 1_000_000,
    }
    users = (await client.get("/api/users?limit=100", headers=admin_headers)).json()["items"]
    row = next(item for item in users if item["id"] == str(user.id))
    assert (row["file_count"], row["used_bytes"], row["quota_mb"]) == (1, 1000, None)


async def test_a_quota_override_applies_to_uploads(client, user, admin_headers) -> None:
    response = await client.patch(
        f"/api/users/{user.id}", headers=admin_headers, json={"quota_mb": 1}
    )
    assert response.json()["quota_bytes"] == 1_000_000
    assert (await upload(client, user, b"q" * 900_000)).status_code == 201
    refused = await upload(client, user, b"q" * 200_000)
    assert refused.status_code == 507
    assert "quota of 1 MB" in refused.json()["detail"]
    back = await client.patch(
        f"/api/users/{user.id}", headers=admin_headers, json={"quota_mb": None}
    )
    assert back.json()["quota_mb"] is None
    assert (await upload(client, user, b"q" * 200_000)).status_code == 201


async def test_deleting_an_account_asks_for_its_email_and_removes_its_files(
    client, user, admin_headers, storage: FakeStorage
) -> None:
    for _ in range(2):
        assert (await upload(client, user, b"f" * 500)).status_code == 201
    assert len(storage.files) == 2
    unconfirmed = await client.delete(
        f"/api/users/{user.id}", headers=admin_headers, params={"confirm_email": "x@example.com"}
    )
    assert unconfirmed.status_code == 400
    assert user.email in unconfirmed.json()["detail"]
    response = await client.delete(
        f"/api/users/{user.id}", headers=admin_headers, params={"confirm_email": user.email}
    )
    assert response.status_code == 204
    assert storage.files == {}
    assert sql("SELECT count(*) FROM files WHERE owner_id = %(u)s", {"u": user.id}) == [(0,)]
    gone = await client.post("/api/auth/login", data={"username": user.email, "password": PASSWORD})
    assert gone.status_code == 401
    audit = (await client.get("/api/audit", headers=admin_headers)).json()["items"]
    assert audit[0]["action"] == "delete_account"
    assert audit[0]["target_email"] == user.email
    assert audit[0]["actor_email"] == settings.FIRST_ADMIN_EMAIL


async def test_a_deletion_with_storage_down_keeps_what_is_still_stored(
    client, user, admin_headers, storage: FakeStorage
) -> None:
    assert (await upload(client, user, b"k" * 500)).status_code == 201
    storage.down = True
    response = await client.delete(
        f"/api/users/{user.id}", headers=admin_headers, params={"confirm_email": user.email}
    )
    assert response.status_code == 503
    storage.down = False
    assert (await client.get("/api/files", headers=user.headers)).json()["total"] == 1


async def test_an_admin_cannot_delete_themself(client, admin_headers) -> None:
    me = (await client.get("/api/users/me", headers=admin_headers)).json()
    response = await client.delete(
        f"/api/users/{me['id']}", headers=admin_headers, params={"confirm_email": me["email"]}
    )
    assert response.status_code == 400


async def test_deleting_a_missing_account_is_a_404(client, admin_headers) -> None:
    response = await client.delete(
        f"/api/users/{uuid.uuid4()}", headers=admin_headers, params={"confirm_email": "a@b.fr"}
    )
    assert response.status_code == 404


async def test_the_audit_log_is_for_admins_and_says_who_what_whom(
    client, user, admin_headers
) -> None:
    await client.patch(f"/api/users/{user.id}", headers=admin_headers, json={"quota_mb": 5})
    entry = (await client.get("/api/audit", headers=admin_headers)).json()["items"][0]
    assert entry["actor_email"] == settings.FIRST_ADMIN_EMAIL
    assert (entry["action"], entry["target_email"], entry["detail"]) == (
        "set_quota_mb",
        user.email,
        "quota_mb=5",
    )
    assert entry["at"]
    assert (await client.get("/api/audit", headers=user.headers)).status_code == 403


async def test_an_account_deleted_while_it_uploads_leaves_no_file(
    client, user, storage: FakeStorage
) -> None:
    async def delete_the_account() -> None:
        sql("DELETE FROM users WHERE id = %(u)s", {"u": user.id})

    storage.on_first_chunk = delete_the_account
    response = await upload(client, user, b"d" * 200_000)
    assert response.status_code == 401
    assert "no longer exists" in response.json()["detail"]
    assert storage.files == {}
    assert sql("SELECT count(*) FROM files WHERE owner_id = %(u)s", {"u": user.id}) == [(0,)]
