"""Who sees, reads and deletes a file, and what storage hears when an owner is blocked."""

import uuid

import httpx
import pytest

from app.core.config import settings
from app.services import owner_blocks
from tests.conftest import Member, create_user, upload
from tests.storage_fake import FakeStorage

pytestmark = pytest.mark.anyio


async def test_a_user_never_sees_another_users_files(
    client: httpx.AsyncClient, user: Member, storage: FakeStorage
) -> None:
    file_id = (await upload(client, user, b"private")).json()["id"]
    other = await create_user(client)
    assert (await client.get("/api/files", headers=other.headers)).json() == {
        "items": [],
        "total": 0,
    }
    for method in ("GET", "DELETE"):
        response = await client.request(method, f"/api/files/{file_id}", headers=other.headers)
        assert response.status_code == 404  # not 403: whether the file exists stays hidden
        assert response.json() == {"detail": "No file with this id."}
    assert len(storage.files) == 1
    assert (await client.get(f"/api/files/{file_id}", headers=user.headers)).status_code == 200


async def test_reading_an_unknown_or_malformed_file_id(
    client: httpx.AsyncClient, user: Member
) -> None:
    assert (await client.get(f"/api/files/{uuid.uuid4()}", headers=user.headers)).status_code == 404
    response = await client.get("/api/files/not-an-id", headers=user.headers)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["path", "file_id"]


async def test_delete_removes_the_file_from_storage_and_the_list(
    client: httpx.AsyncClient, user: Member, storage: FakeStorage
) -> None:
    file_id = (await upload(client, user, b"bye")).json()["id"]
    response = await client.delete(f"/api/files/{file_id}", headers=user.headers)
    assert response.status_code == 204
    assert storage.files == {}
    assert (await client.get(f"/api/files/{file_id}", headers=user.headers)).status_code == 404


async def test_delete_when_storage_is_down_keeps_the_file_for_a_retry(
    client: httpx.AsyncClient, user: Member, storage: FakeStorage
) -> None:
    file_id = (await upload(client, user, b"keep")).json()["id"]
    storage.down = True
    response = await client.delete(f"/api/files/{file_id}", headers=user.headers)
    assert response.status_code == 503
    assert (await client.get(f"/api/files/{file_id}", headers=user.headers)).status_code == 200
    storage.down = False
    assert (await client.delete(f"/api/files/{file_id}", headers=user.headers)).status_code == 204


async def test_delete_of_a_file_already_gone_from_storage_removes_the_record(
    client: httpx.AsyncClient, user: Member, storage: FakeStorage
) -> None:
    file_id = (await upload(client, user, b"lost")).json()["id"]
    storage.files.clear()
    assert (await client.delete(f"/api/files/{file_id}", headers=user.headers)).status_code == 204
    assert (await client.get("/api/files", headers=user.headers)).json()["total"] == 0


async def test_delete_reports_an_unexpected_storage_answer(
    client: httpx.AsyncClient, user: Member, storage: FakeStorage
) -> None:
    file_id = (await upload(client, user, b"x")).json()["id"]
    storage.token = "rotated"  # storage now refuses the backend's token
    response = await client.delete(f"/api/files/{file_id}", headers=user.headers)
    assert response.status_code == 502
    storage.token = settings.STORAGE_TOKEN


async def test_deactivating_an_owner_blocks_their_links_in_storage(
    client: httpx.AsyncClient, user: Member, admin_headers: dict[str, str], storage: FakeStorage
) -> None:
    off = await client.patch(
        f"/api/users/{user.id}", headers=admin_headers, json={"is_active": False}
    )
    assert off.status_code == 200
    assert storage.blocked_owners == {str(user.id)}
    on = await client.patch(
        f"/api/users/{user.id}", headers=admin_headers, json={"is_active": True}
    )
    assert on.status_code == 200
    assert storage.blocked_owners == set()


async def test_deactivation_while_storage_is_down_is_made_and_reaches_storage_when_back(
    app,
    client: httpx.AsyncClient,
    user: Member,
    admin_headers: dict[str, str],
    storage: FakeStorage,
) -> None:
    storage.down = True
    response = await client.patch(
        f"/api/users/{user.id}", headers=admin_headers, json={"is_active": False}
    )
    assert response.status_code == 200, response.text
    assert response.json()["is_active"] is False
    # The account is refused at once; storage is told when it answers again.
    assert (await client.get("/api/users/me", headers=user.headers)).status_code == 403
    storage.down = False
    assert str(user.id) not in storage.blocked_owners
    await owner_blocks.deliver_pending(app.state.storage)
    assert str(user.id) in storage.blocked_owners
    # Delivered once: nothing is left to deliver.
    storage.blocked_owners.clear()
    await owner_blocks.deliver_pending(app.state.storage)
    assert storage.blocked_owners == set()


async def test_a_refused_change_of_an_account_tells_storage_nothing(
    client: httpx.AsyncClient, admin_headers: dict[str, str], storage: FakeStorage
) -> None:
    me = (await client.get("/api/users/me", headers=admin_headers)).json()
    response = await client.patch(
        f"/api/users/{me['id']}", headers=admin_headers, json={"is_active": False}
    )
    assert response.status_code == 400
    assert storage.blocked_owners == set()
