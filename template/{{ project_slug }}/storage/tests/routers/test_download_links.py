"""Download links are private capabilities: signed, expiring, refused once the owner is blocked."""

import json
import logging

import pytest
from fastapi.testclient import TestClient

from tests.conftest import AUTH, OWNER, TOKEN, download, signed, upload, wait_until_expired


@pytest.fixture
def name(client: TestClient) -> str:
    return upload(client, b"%PDF-1.7 private", filename="scan.pdf").json()["name"]


def test_a_file_without_a_link_is_refused(client: TestClient, name: str) -> None:
    response = client.get(f"/storage/files/{name}")
    assert response.status_code == 403
    assert response.json() == {
        "detail": "This download link is not valid: open the file again from your list of files."
    }
    assert response.content != b"%PDF-1.7 private"


@pytest.mark.parametrize(
    "tamper",
    [
        lambda link: link.replace("signature=", "signature=A"),
        lambda link: link.replace("expires=", "expires=9"),  # a later expiry, same signature
        lambda link: link.replace(OWNER, OWNER.replace("0", "1")),
        lambda link: link.replace("owner=", "owner=x"),
        lambda link: link.split("&signature=")[0],
    ],
)
def test_a_tampered_link_is_refused(client: TestClient, name: str, tamper) -> None:
    response = client.get(tamper(signed(f"/storage/files/{name}")))
    assert response.status_code == 403
    assert "not valid" in response.json()["detail"]


def test_a_link_signed_for_another_file_is_refused(client: TestClient, name: str) -> None:
    other = upload(client, b"other", filename="other.txt").json()["name"]
    query = signed(f"/storage/files/{other}").split("?", 1)[1]
    assert client.get(f"/storage/files/{name}?{query}").status_code == 403


def test_an_expired_link_is_refused_with_a_message(client: TestClient, name: str) -> None:
    link = signed(f"/storage/files/{name}", lifetime=2)  # one whole second at least
    assert download(client, link).status_code == 200
    wait_until_expired(link)
    response = client.get(link)
    assert response.status_code == 403
    assert response.json() == {
        "detail": "This download link has expired: open the file again from your list of files."
    }


def test_a_link_is_cacheable_by_the_browser_only_while_it_lives(
    client: TestClient, name: str
) -> None:
    response = download(client, signed(f"/storage/files/{name}", lifetime=300))
    cache_control = response.headers["cache-control"]
    assert cache_control.startswith("private, max-age=")
    assert 295 <= int(cache_control.rsplit("=", 1)[1]) <= 300
    assert "immutable" not in cache_control and "public" not in cache_control


def test_links_of_a_blocked_owner_are_refused_until_unblocked(
    client: TestClient, name: str
) -> None:
    link = signed(f"/storage/files/{name}")
    assert download(client, link).status_code == 200
    assert client.put(f"/storage/owners/{OWNER}/blocked", headers=AUTH).status_code == 204
    assert client.get(link).status_code == 404
    other_owner = signed(f"/storage/files/{name}", owner="1" * 8 + OWNER[8:])
    assert download(client, other_owner).status_code == 200  # only that owner's links
    assert client.delete(f"/storage/owners/{OWNER}/blocked", headers=AUTH).status_code == 204
    assert download(client, link).status_code == 200


def test_blocking_is_internal_and_checks_the_owner_id(client: TestClient) -> None:
    assert client.put(f"/storage/owners/{OWNER}/blocked").status_code == 401
    assert client.put("/storage/owners/..%2f..%2fetc/blocked", headers=AUTH).status_code == 404
    assert client.put("/storage/owners/NOT-A-UUID/blocked", headers=AUTH).status_code == 404


def test_a_deleted_files_link_is_refused(client: TestClient, name: str) -> None:
    link = signed(f"/storage/files/{name}")
    assert client.delete(f"/storage/files/{name}", headers=AUTH).status_code == 204
    assert client.get(link).status_code == 404


def test_the_access_log_keeps_no_link(
    client: TestClient, name: str, caplog: pytest.LogCaptureFixture
) -> None:
    from app.observability import JsonFormatter

    link = signed(f"/storage/files/{name}")
    with caplog.at_level(logging.INFO):
        answer = client.get(link, headers={"X-Request-ID": "abcdef0123456789"})
    assert answer.headers["x-request-id"] == "abcdef0123456789"
    # The service's own lines (the test client logs its requests too, link and all).
    records = [record for record in caplog.records if record.name.startswith("app")]
    lines = [JsonFormatter().format(record) for record in records]
    access = [json.loads(line) for line in lines if '"app.access"' in line]
    assert access and access[-1]["route"] == "/storage/files/{name}"
    assert access[-1]["path"] == f"/storage/files/{name}"
    assert access[-1]["service"] == "storage"
    assert "signature" not in "".join(lines) and TOKEN not in "".join(lines)
