"""The third security review's findings, at the level of the API (the booted stack's own checks
are in the template's tests/reliability/test_security_round3.py)."""

from __future__ import annotations

import asyncio
import uuid

import anyio
import httpx
import pytest
from sqlalchemy import create_engine, delete, select, text, update
from sqlalchemy.pool import NullPool

from app import prestart
from app.api.routes import users as user_routes
from app.core.config import settings
from app.core.db import engine
from app.core.passwords import context_words, weakness
from app.models import User
from app.services import open_uploads
from tests.api.routes.test_admin import new_email, token_of
from tests.conftest import PASSWORD, Member, create_user, login
from tests.storage_fake import FakeStorage

pytestmark = pytest.mark.anyio


async def make_admin(client: httpx.AsyncClient, admin_headers: dict[str, str]) -> Member:
    member = await create_user(client)
    promoted = await client.patch(
        f"/api/users/{member.id}", headers=admin_headers, json={"role": "admin"}
    )
    assert promoted.status_code == 200, promoted.text
    return member


async def audit(client: httpx.AsyncClient, admin_headers: dict[str, str]) -> list[dict]:
    response = await client.get("/api/audit?limit=100", headers=admin_headers)
    assert response.status_code == 200, response.text
    return response.json()["items"]


# --- 1. no connection held while hashing ---------------------------------------------------------


async def test_a_password_check_holds_no_database_connection_while_it_hashes(
    client: httpx.AsyncClient, user: Member, monkeypatch: pytest.MonkeyPatch
) -> None:
    held: list[int] = []
    real_verify = user_routes.verify_password

    async def verify(password: str, hashed: str | None):
        held.append(engine.pool.checkedout())
        return await real_verify(password, hashed)

    monkeypatch.setattr(user_routes, "verify_password", verify)
    body = {"current_password": PASSWORD, "new_password": PASSWORD}
    response = await client.post("/api/users/me/password", headers=user.headers, json=body)
    assert response.status_code == 204, response.text
    assert held == [0], "the request held a pooled connection while it waited to hash"


async def test_one_accounts_password_checks_run_one_at_a_time(
    client: httpx.AsyncClient, user: Member
) -> None:
    body = {"current_password": PASSWORD, "new_password": PASSWORD}
    answers = await asyncio.gather(
        *(client.post("/api/users/me/password", headers=user.headers, json=body) for _ in range(4))
    )
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses[0] == 204 and 429 in statuses, statuses
    busy = next(answer for answer in answers if answer.status_code == 429)
    assert busy.json()["detail"].startswith("A password check for this account is already")
    assert busy.headers["Retry-After"] == "1"


# --- 2. the first administrator is created once, ever --------------------------------------------


def test_the_first_admin_is_not_created_again_after_a_rename_or_a_deletion() -> None:
    sync = create_engine(settings.database_url, poolclass=NullPool)
    try:
        with sync.connect() as connection, connection.begin() as transaction:
            first = User.email == settings.FIRST_ADMIN_EMAIL
            connection.execute(update(User).where(first).values(email="renamed@example.com"))
            assert prestart.ensure_first_admin(connection) is False
            assert connection.scalar(select(User.id).where(first)) is None
            connection.execute(delete(User).where(User.email == "renamed@example.com"))
            assert prestart.ensure_first_admin(connection) is False
            assert connection.scalar(select(User.id).where(first)) is None
            transaction.rollback()
    finally:
        sync.dispose()


# --- 3. two administrators deactivating each other at once ---------------------------------------


async def test_two_admins_deactivating_each_other_at_once_one_wins_and_storage_agrees(
    client: httpx.AsyncClient, admin_headers: dict[str, str], storage: FakeStorage
) -> None:
    for _ in range(5):
        one = await make_admin(client, admin_headers)
        two = await make_admin(client, admin_headers)
        # Only these two are active administrators: the first admin steps aside for the round.
        first_id = (await client.get("/api/users/me", headers=admin_headers)).json()["id"]
        async with engine.begin() as connection:
            await connection.execute(
                text("UPDATE users SET role = 'user' WHERE role = 'admin' AND id NOT IN (:a, :b)"),
                {"a": one.id, "b": two.id},
            )
        try:
            answers = await asyncio.gather(
                client.patch(
                    f"/api/users/{two.id}", headers=one.headers, json={"is_active": False}
                ),
                client.patch(
                    f"/api/users/{one.id}", headers=two.headers, json={"is_active": False}
                ),
            )
        finally:
            async with engine.begin() as connection:
                await connection.execute(
                    text("UPDATE users SET role = 'admin' WHERE id = :id"), {"id": first_id}
                )
        statuses = sorted(answer.status_code for answer in answers)
        assert statuses == [200, 409], [answer.text for answer in answers]
        loser = two if answers[0].status_code == 200 else one
        # Storage blocks exactly the account the database deactivated.
        assert storage.blocked_owners == {str(loser.id)}
        storage.blocked_owners.clear()


# --- 4. the audit log names accounts by id, and logs e-mail changes ------------------------------


async def test_the_audit_log_keeps_ids_and_addresses_of_the_moment(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    admin = await make_admin(client, admin_headers)
    victim = await create_user(client)
    temporary = new_email("temporary")
    renamed = await client.patch(
        "/api/users/me",
        headers=admin.headers,
        json={"email": temporary, "current_password": PASSWORD},
    )
    assert renamed.status_code == 200, renamed.text
    deleted = await client.delete(
        f"/api/users/{victim.id}", params={"confirm_email": victim.email}, headers=admin.headers
    )
    assert deleted.status_code == 204, deleted.text
    back = await client.patch(
        "/api/users/me",
        headers=admin.headers,
        json={"email": admin.email, "current_password": PASSWORD},
    )
    assert back.status_code == 200, back.text
    entries = await audit(client, admin_headers)
    deletion = next(e for e in entries if e["action"] == "delete_account")
    assert deletion["actor_id"] == str(admin.id)
    assert deletion["actor_email"] == temporary
    assert deletion["summary"] == "Account deleted with its files (none)."
    changes = [
        e for e in entries if e["action"] == "change_email" and e["actor_id"] == str(admin.id)
    ]
    assert [(e["detail"], e["target_email"]) for e in changes] == [
        (temporary, admin.email),
        (admin.email, temporary),
    ]
    assert changes[0]["summary"] == f"E-mail address changed from {temporary}."


async def test_audit_entries_read_as_sentences(
    client: httpx.AsyncClient, admin_headers: dict[str, str], site_language
) -> None:
    member = await create_user(client)
    for change in ({"role": "admin"}, {"quota_mb": 2000}, {"is_active": False}):
        response = await client.patch(f"/api/users/{member.id}", headers=admin_headers, json=change)
        assert response.status_code == 200, response.text
    site_language("fr")
    entries = await audit(client, admin_headers)
    mine = [e["summary"] for e in entries if e["target_id"] == str(member.id)]
    assert mine[:3] == [
        "Compte désactivé.",
        "Quota fixé à 2\u202f000 Mo.",
        "Rôle changé en administrateur.",
    ]


# --- 5. e-mail change probes are throttled -------------------------------------------------------


async def test_email_changes_are_throttled_per_account(
    client: httpx.AsyncClient, user: Member
) -> None:
    taken = await create_user(client)
    answers = []
    # Five changes per quarter of an hour, made or refused; the next waits.
    for address in [taken.email, new_email(), taken.email, new_email(), new_email(), taken.email]:
        response = await client.patch(
            "/api/users/me",
            headers=user.headers,
            json={"email": address, "current_password": PASSWORD},
        )
        answers.append(response.status_code)
    assert answers == [409, 200, 409, 200, 200, 429], answers
    assert int(response.headers["Retry-After"]) > 0
    assert response.json()["detail"].startswith("Too many e-mail address changes for this account")


# --- 6. reset links end together -----------------------------------------------------------------


async def _reset_link(client: httpx.AsyncClient, admin_headers: dict, member: Member) -> str:
    response = await client.post(f"/api/users/{member.id}/password-reset", headers=admin_headers)
    assert response.status_code == 201, response.text
    assert response.json()["email"] == member.email
    return token_of(response.json()["path"])


async def _use_reset(client: httpx.AsyncClient, token: str, email: str) -> httpx.Response:
    body = {"token": token, "email": email, "new_password": f"{PASSWORD} {uuid.uuid4().hex[:6]}"}
    return await client.post("/api/auth/reset-password", json=body)


async def test_a_used_reset_link_ends_the_older_ones(
    client: httpx.AsyncClient, user: Member, admin_headers: dict[str, str]
) -> None:
    older = await _reset_link(client, admin_headers, user)
    newer = await _reset_link(client, admin_headers, user)
    assert (await _use_reset(client, newer, user.email)).status_code == 204
    refused = await _use_reset(client, older, user.email)
    assert refused.status_code == 400
    assert refused.json()["detail"].startswith("This link has already been used")
    used = next(e for e in await audit(client, admin_headers) if e["target_id"] == str(user.id))
    assert used["action"] == "password_reset_used"
    assert (
        used["summary"] == f"Password set with a reset link made by {settings.FIRST_ADMIN_EMAIL}."
    )


async def test_a_password_or_email_change_ends_pending_reset_links(
    client: httpx.AsyncClient, user: Member, admin_headers: dict[str, str]
) -> None:
    pending = await _reset_link(client, admin_headers, user)
    body = {"current_password": PASSWORD, "new_password": f"{PASSWORD} again"}
    assert (
        await client.post("/api/users/me/password", headers=user.headers, json=body)
    ).status_code == 204
    assert (await _use_reset(client, pending, user.email)).status_code == 400

    pending = await _reset_link(client, admin_headers, user)
    moved = await client.patch(
        "/api/users/me",
        headers=user.headers,
        json={"email": new_email(), "current_password": f"{PASSWORD} again"},
    )
    assert moved.status_code == 200, moved.text
    assert (await _use_reset(client, pending, user.email)).status_code == 400
    assert (await _use_reset(client, pending, moved.json()["email"])).status_code == 400


# --- 7. an upload in progress ends with its owner's account --------------------------------------


async def test_an_upload_in_progress_is_refused_when_its_owner_is_deactivated(
    client: httpx.AsyncClient, user: Member, admin_headers: dict[str, str], storage: FakeStorage
) -> None:
    async def deactivate() -> None:
        response = await client.patch(
            f"/api/users/{user.id}", headers=admin_headers, json={"is_active": False}
        )
        assert response.status_code == 200, response.text

    storage.on_first_chunk = deactivate
    files = {"file": ("late.bin", b"x" * 200_000, "application/octet-stream")}
    response = await client.post("/api/upload", headers=user.headers, files=files)
    assert response.status_code == 403, response.text
    assert storage.files == {}, "the file of a refused upload stayed in storage"


# --- 10. one account's open uploads are bounded --------------------------------------------------


async def test_an_accounts_uploads_past_the_bound_wait_then_are_refused() -> None:
    owner, streaming = uuid.uuid4(), 0
    most = 0
    release = anyio.Event()

    async def upload() -> str:
        nonlocal streaming, most
        try:
            async with open_uploads.slot(owner):
                streaming += 1
                most = max(most, streaming)
                await release.wait()
                streaming -= 1
                return "done"
        except open_uploads.TooManyUploadsError:
            return "refused"

    total = open_uploads.STREAMING + open_uploads.WAITING + 3
    tasks = [asyncio.create_task(upload()) for _ in range(total)]
    await asyncio.sleep(0.05)
    release.set()
    results = await asyncio.gather(*tasks)
    assert results.count("refused") == 3
    assert most == open_uploads.STREAMING
    assert owner not in open_uploads._accounts  # nothing left behind


async def test_an_upload_larger_than_the_quota_left_is_refused_before_its_body_is_read(
    client: httpx.AsyncClient, user: Member, storage: FakeStorage
) -> None:
    for name in ("one.bin", "two.bin"):  # 1.8 of the 2 MB quota
        files = {"file": (name, b"x" * 900_000, "application/octet-stream")}
        assert (await client.post("/api/upload", headers=user.headers, files=files)).is_success
    storage.chunks_received = 0
    response = await client.post(
        "/api/upload",
        headers={
            **user.headers,
            "Content-Type": "multipart/form-data; boundary=b",
            # Within the upload limit (1 MB here), over the 0.2 MB left: refused on the length.
            "Content-Length": "700000",
        },
        content=b"--b\r\n" + b"x" * 100 + b"\r\n--b--\r\n",
    )
    assert response.status_code == 507, response.text
    assert storage.chunks_received == 0


# --- 11. names, addresses, invitations -----------------------------------------------------------


async def test_hidden_formatting_is_taken_out_of_display_and_file_names(
    client: httpx.AsyncClient, user: Member
) -> None:
    named = await client.patch(
        "/api/users/me", headers=user.headers, json={"full_name": "Ada\u202e\u200b Lovelace"}
    )
    assert named.json()["full_name"] == "Ada Lovelace"
    files = {"file": ("invoice\u202egpj.exe", b"x", "application/octet-stream")}
    uploaded = await client.post("/api/upload", headers=user.headers, files=files)
    assert uploaded.json()["name"] == "invoicegpj.exe"


async def test_markup_in_an_address_is_refused_at_sign_up(client: httpx.AsyncClient) -> None:
    body = {"email": "<img src=x>@example.com", "password": PASSWORD}
    response = await client.post("/api/auth/register", json=body)
    assert response.status_code == 422


async def test_an_invitation_names_the_address_as_stored_and_says_when_one_is_pending(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    typed = f"Jean.DUPRE-{uuid.uuid4().hex[:8]}@Example.COM"
    first = await client.post("/api/invitations", headers=admin_headers, json={"email": typed})
    assert first.json()["email"] == typed.lower()
    assert first.json()["notice"] is None
    second = await client.post("/api/invitations", headers=admin_headers, json={"email": typed})
    assert second.json()["notice"].startswith("This address was already invited")
    # Both links work (whichever is used first ends the other by creating the account).
    assert token_of(first.json()["path"]) != token_of(second.json()["path"])


def test_a_password_built_on_the_sites_name_is_refused_with_or_without_accents() -> None:
    context = context_words("jean@example.com", None, "Cabinet Dupré & Fils", "example.com")
    assert weakness("Dupre&Fils2024", context=context) is not None
    assert weakness("Dupré&Fils2024", context=context) is not None
    assert weakness("correct horse battery staple", context=context) is None


async def test_the_new_first_admin_can_still_sign_in(client: httpx.AsyncClient) -> None:
    """The suite's own first admin (created by prestart) is intact after these tests."""
    await login(client, settings.FIRST_ADMIN_EMAIL, settings.FIRST_ADMIN_PASSWORD)
