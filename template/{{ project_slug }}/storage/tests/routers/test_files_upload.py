import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.conftest import AUTH, TOKEN, Backend, stored_files, upload

MB = 1_000_000  # MAX_UPLOAD_MB=1: one decimal megabyte


def test_upload_streams_the_raw_body_into_a_sharded_file(
    local_client: TestClient, volume: Path
) -> None:
    client = local_client
    content = b"hello storage\n" * 1000
    response = upload(client, content, filename="Report.TXT")
    assert response.status_code == 201
    body = response.json()
    assert re.fullmatch(r"[0-9a-f]{32}\.txt", body["name"])
    assert body["size"] == len(content)
    assert body["sha256"] == hashlib.sha256(content).hexdigest()
    assert body["content_type"] == "text/plain"
    name = body["name"]
    assert stored_files(volume) == [volume / name[0:2] / name[2:4] / name]
    assert (volume / name[0:2] / name[2:4] / name).read_bytes() == content


def test_an_upload_is_kept_under_its_generated_name(client: TestClient, backend: Backend) -> None:
    content = bytes(range(256)) * 100
    body = upload(client, content, filename="Report.TXT").json()
    assert re.fullmatch(r"[0-9a-f]{32}\.txt", body["name"])
    assert body["size"] == len(content)
    assert body["sha256"] == hashlib.sha256(content).hexdigest()
    name = body["name"]
    kept = f"{name[0:2]}/{name[2:4]}/{name}" if backend.name == "local" else name
    assert backend.stored() == [kept]


def test_the_served_type_follows_the_allow_list_not_the_client(client: TestClient) -> None:
    claims_image = upload(
        client, b"<script>alert(1)</script>", filename="page.html", **{"Content-Type": "image/png"}
    ).json()
    assert claims_image["content_type"] == "text/html"
    unknown = upload(client, b"MZ", filename="setup.exe").json()
    assert "." not in unknown["name"] and unknown["content_type"] == "application/octet-stream"
    typed = upload(client, b"\x89PNG", filename="clipboard", **{"Content-Type": "image/png"}).json()
    assert typed["name"].endswith(".png")


def test_an_empty_file_is_a_file(client: TestClient) -> None:
    body = upload(client, b"").json()
    assert body["size"] == 0
    assert body["sha256"] == hashlib.sha256(b"").hexdigest()


WRONG_AUTHORIZATIONS = [
    None,
    "",
    "Bearer",
    f"Basic {TOKEN}",
    f"Bearer {TOKEN[:-1]}",
    f"Bearer {TOKEN}x",
    "Bearer é".encode("latin-1"),
]


@pytest.mark.parametrize("authorization", WRONG_AUTHORIZATIONS)
def test_upload_without_the_internal_token_is_refused_and_writes_nothing(
    client: TestClient, backend: Backend, authorization: str | bytes | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    response = client.post("/storage/upload", content=b"data", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert "STORAGE_TOKEN" in response.json()["detail"]
    assert backend.stored() == []


def test_a_declared_size_over_the_limit_is_refused_before_reading(
    client: TestClient, backend: Backend
) -> None:
    response = upload(client, b"x" * (MB + 1))
    assert response.status_code == 413
    assert response.json()["detail"] == "The file is larger than the 1 MB upload limit."
    assert backend.stored() == []


def test_a_streamed_body_over_the_limit_is_cut_and_removed(
    client: TestClient, backend: Backend
) -> None:
    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit must hold while reading
        for _ in range(5):
            yield b"y" * (300 * 1024)

    response = client.post("/storage/upload", content=chunks(), headers=AUTH)
    assert response.status_code == 413
    assert backend.stored() == []


def test_exactly_the_limit_is_accepted_and_one_byte_more_is_not(
    client: TestClient, backend: Backend
) -> None:
    """MAX_UPLOAD_MB counts decimal megabytes, as the backend does: 1 MB is 1,000,000 bytes."""
    assert upload(client, b"z" * MB).json()["size"] == MB
    assert upload(client, b"z" * (MB + 1)).status_code == 413  # declared: refused before reading

    def chunks(total: int) -> Iterator[bytes]:  # no Content-Length: counted while reading
        for start in range(0, total, 100_000):
            yield b"s" * min(100_000, total - start)

    streamed = client.post("/storage/upload", content=chunks(MB), headers=AUTH)
    assert streamed.status_code == 201 and streamed.json()["size"] == MB
    over = client.post("/storage/upload", content=chunks(MB + 1), headers=AUTH)
    assert over.status_code == 413
    assert over.json()["detail"] == "The file is larger than the 1 MB upload limit."
    assert len(backend.stored()) == 2  # the two accepted files, nothing of the refused ones


def test_an_over_long_file_name_is_a_clear_422(client: TestClient) -> None:
    response = upload(client, b"data", filename="a" * 1025 + ".txt")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "filename"]


def test_a_volume_that_cannot_be_written_is_a_503_with_a_message(
    local_client: TestClient, volume: Path
) -> None:
    (volume / ".tmp").rmdir()  # as if the volume had been unmounted under the service
    response = upload(local_client, b"data")
    assert response.status_code == 503
    assert response.json()["detail"].startswith("The storage volume could not be written")
