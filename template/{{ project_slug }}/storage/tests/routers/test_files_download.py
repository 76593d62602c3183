from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from tests.conftest import LINK_SECONDS, S3_TEST_ENV, Backend, download, signed, upload

CSP = "default-src 'none'; sandbox"


@pytest.fixture
def stored_pdf(client: TestClient) -> tuple[str, bytes]:
    content = b"%PDF-1.7\n" + bytes(range(256)) * 40
    return upload(client, content, filename="scan.pdf").json()["name"], content


def test_download_sends_the_bytes_with_safe_headers(
    client: TestClient, stored_pdf: tuple[str, bytes]
) -> None:
    name, content = stored_pdf
    response = download(client, f"/storage/files/{name}")
    assert response.status_code == 200
    assert response.content == content
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"] == "inline"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-security-policy"] == CSP
    assert response.headers["accept-ranges"] == "bytes"
    assert "x-accel-redirect" not in response.headers


@pytest.mark.parametrize(
    ("filename", "disposition"),
    [
        ("page.html", "attachment"),
        ("drawing.svg", "attachment"),
        ("photo.jpeg", "inline"),
        ("data.bin", "attachment"),
    ],
)
def test_only_images_and_pdfs_open_inline(
    client: TestClient, filename: str, disposition: str
) -> None:
    name = upload(client, b"<svg onload=alert(1)>", filename=filename).json()["name"]
    response = download(client, f"/storage/files/{name}")
    assert response.headers["content-disposition"] == disposition
    assert response.headers["content-security-policy"] == CSP


def test_head_answers_headers_only(client: TestClient, stored_pdf: tuple[str, bytes]) -> None:
    name, content = stored_pdf
    response = download(client, f"/storage/files/{name}", "HEAD")
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-length"] == str(len(content))


def test_range_requests_get_206(client: TestClient, stored_pdf: tuple[str, bytes]) -> None:
    name, content = stored_pdf
    response = download(client, f"/storage/files/{name}", Range="bytes=100-199")
    assert response.status_code == 206
    assert response.content == content[100:200]
    assert response.headers["content-range"] == f"bytes 100-199/{len(content)}"
    tail = download(client, f"/storage/files/{name}", Range="bytes=-10")
    assert tail.content == content[-10:]
    beyond = download(client, f"/storage/files/{name}", Range=f"bytes={len(content)}-")
    assert beyond.status_code == 416


def test_conditional_requests_get_304(client: TestClient, stored_pdf: tuple[str, bytes]) -> None:
    name, _ = stored_pdf
    path = f"/storage/files/{name}"
    first = download(client, path)
    etag, last_modified = first.headers["etag"], first.headers["last-modified"]
    by_etag = download(client, path, **{"If-None-Match": etag})
    assert by_etag.status_code == 304
    assert by_etag.content == b""
    assert by_etag.headers["etag"] == etag
    by_date = download(client, path, **{"If-Modified-Since": last_modified})
    assert by_date.status_code == 304
    stale = download(client, path, **{"If-None-Match": '"other"'})
    assert stale.status_code == 200
    garbage = download(client, path, **{"If-Modified-Since": "yesterday"})
    assert garbage.status_code == 200


def test_with_nginx_in_front_the_answer_is_an_accel_redirect(
    accel_client: TestClient, volume: Path
) -> None:
    name = upload(accel_client, b"\x89PNG...", filename="a.png").json()["name"]
    response = accel_client.get(signed(f"/storage/files/{name}"))
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["x-accel-redirect"] == (
        f"/_storage_internal/{name[0:2]}/{name[2:4]}/{name}"
    )
    # nginx keeps these across the internal redirect.
    assert response.headers["content-type"] == "image/png"
    assert response.headers["content-disposition"] == "inline"
    # The path nginx will serve is where the file is, relative to STORAGE_DATA_DIR.
    relative = response.headers["x-accel-redirect"].removeprefix("/_storage_internal/")
    assert (volume / relative).read_bytes() == b"\x89PNG..."


def test_accel_redirect_is_not_sent_for_a_missing_file(accel_client: TestClient) -> None:
    response = accel_client.get(signed(f"/storage/files/{'a' * 32}.png"))
    assert response.status_code == 404
    assert "x-accel-redirect" not in response.headers


@pytest.fixture
def s3_client(bucket: str, volume: Path) -> Iterator[tuple[TestClient, Backend]]:
    backend = Backend("s3", volume, bucket)
    with TestClient(create_app(backend.settings())) as test_client:
        yield test_client, backend


def test_with_s3_the_answer_redirects_nginx_to_a_presigned_url(
    s3_client: tuple[TestClient, Backend],
) -> None:
    client, backend = s3_client
    name = upload(client, b"%PDF-1.7 scan", filename="scan.pdf").json()["name"]
    response = client.get(signed(f"/storage/files/{name}"))
    assert response.status_code == 200
    assert response.content == b""
    target = response.headers["x-accel-redirect"]
    assert target.startswith(f"/_storage_s3/{backend.bucket}/{name}?")
    assert "X-Amz-Signature=" in target and "X-Amz-Expires=60" in target
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"] == "inline"
    assert response.headers["cache-control"] == f"private, max-age={LINK_SECONDS}"
    assert response.headers["content-security-policy"] == CSP
    # The store requires signed requests: the object is not readable without the signature.
    unsigned = httpx.get(f"{S3_TEST_ENV['ENDPOINT']}/{backend.bucket}/{name}", timeout=10)
    assert unsigned.status_code == 403
    # The signature covers the method: a HEAD gets a URL signed for HEAD, a GET one for GET.
    head = download(client, f"/storage/files/{name}", "HEAD")
    assert head.status_code == 200 and head.headers["content-length"] == "13"
    get_url = S3_TEST_ENV["ENDPOINT"] + target.removeprefix("/_storage_s3")
    assert httpx.head(get_url, timeout=10).status_code == 403


def test_a_missing_object_is_a_404_without_a_redirect(client: TestClient) -> None:
    response = client.get(signed(f"/storage/files/{'b' * 32}.pdf"))
    assert response.status_code == 404
    assert response.json() == {"detail": "No such file."}
    assert "x-accel-redirect" not in response.headers
