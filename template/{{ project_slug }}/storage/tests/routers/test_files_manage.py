import pytest
from fastapi.testclient import TestClient

from tests.conftest import AUTH, Backend, signed, upload


def test_meta_describes_a_stored_file(client: TestClient) -> None:
    stored = upload(client, b"a,b\n1,2\n", filename="table.csv").json()
    response = client.get(f"/storage/meta/{stored['name']}", headers=AUTH)
    assert response.status_code == 200
    meta = response.json()
    assert meta["name"] == stored["name"]
    assert meta["size"] == 8
    assert meta["content_type"] == "text/csv"
    assert meta["sha256"] in (stored["sha256"], None)  # None where the disk keeps no xattrs


def test_delete_removes_the_file_and_then_it_is_gone(client: TestClient, backend: Backend) -> None:
    name = upload(client, b"bye").json()["name"]
    assert client.delete(f"/storage/files/{name}", headers=AUTH).status_code == 204
    assert backend.stored() == []
    assert client.get(signed(f"/storage/files/{name}")).status_code == 404
    again = client.delete(f"/storage/files/{name}", headers=AUTH)
    assert again.status_code == 404
    assert again.json() == {"detail": "No such file."}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("DELETE", "/storage/files/{name}"),
        ("GET", "/storage/meta/{name}"),
    ],
)
def test_internal_routes_need_the_token(
    client: TestClient, backend: Backend, method: str, path: str
) -> None:
    name = upload(client, b"keep me").json()["name"]
    response = client.request(
        method, path.format(name=name), headers={"Authorization": "Bearer wrong"}
    )
    assert response.status_code == 401
    assert len(backend.stored()) == 1


def test_unsupported_methods_are_405(client: TestClient) -> None:
    name = upload(client, b"x").json()["name"]
    assert client.put(f"/storage/files/{name}", headers=AUTH).status_code == 405
    assert client.get("/storage/upload", headers=AUTH).status_code == 405
