"""The storage service: its generated pytest suite passes; downloads through the real edge work.

The suite runs in the virtualenv the generated native runner builds (`scripts/local/stack.py`),
so the pins it tests are the ones a deployment installs. It runs on both backends: the local
volume, and S3 against a real SeaweedFS that requires signed requests (tests/support/seaweedfs);
none of its S3 tests may be skipped. The end-to-end tests use the booted stack (real nginx, TLS
and storage) and write to storage directly, as the backend does.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from support.project import Stack, render, run_service_suite
from support.seaweedfs import seaweedfs

# The suite covers every rule of the storage issue, most of them on both backends; a shrinking
# count is a bug.
MIN_TESTS = 160
MIN_COVERAGE = 90


# What the edge sends with every stored file: nothing loads, nothing runs, not framable.
FILE_CSP = "default-src 'none'; frame-ancestors 'none'; sandbox"


@pytest.fixture(scope="module")
def storage_project(session_tmp: Path) -> Path:
    return render(session_tmp / "storage-suite")


def test_generated_storage_suite_passes_on_the_volume_and_on_s3(
    storage_project: Path, tmp_path: Path
) -> None:
    with seaweedfs(tmp_path / "seaweedfs") as store:
        output = run_service_suite(
            storage_project,
            "storage",
            min_tests=MIN_TESTS,
            min_coverage=MIN_COVERAGE,
            env=store.env(),
        )
    # run_service_suite refuses skips; the S3 backend's own coverage says that half really ran.
    s3_line = re.search(r"^app/s3store\.py\s.*?(\d+)%$", output, re.MULTILINE)
    assert s3_line and int(s3_line.group(1)) >= MIN_COVERAGE, output[-3000:]


# --- end to end: the real storage behind the real edge nginx ------------------------------------


@pytest.fixture(scope="module")
def edge(stack: Stack) -> Iterator[httpx.Client]:
    """HTTPS to the edge, trusting the stack's own self-signed certificate only."""
    context = ssl.create_default_context(cafile=stack.state_dir / "tls" / "selfsigned.crt")
    with httpx.Client(base_url=stack.url, verify=context, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def internal(stack: Stack) -> Iterator[httpx.Client]:
    """The storage service's own port, as the backend reaches it, with the internal token."""
    with httpx.Client(
        base_url=f"http://127.0.0.1:{stack.port('storage')}",
        headers={"Authorization": f"Bearer {stack.env['STORAGE_TOKEN']}"},
        timeout=30,
    ) as client:
        yield client


def store(internal: httpx.Client, content: bytes, filename: str) -> str:
    response = internal.post("/storage/upload", params={"filename": filename}, content=content)
    assert response.status_code == 201, response.text
    return response.json()["name"]


def link(internal: httpx.Client, name: str) -> str:
    """A download link as the backend makes it (docs/CONTRACTS.md, "Download links")."""
    token = internal.headers["Authorization"].split(" ", 1)[1].encode()
    key = hmac.new(token, b"closo download links v1", hashlib.sha256).digest()
    owner, expires = "00000000-0000-4000-8000-000000000001", int(time.time()) + 600
    mac = hmac.new(key, f"{name}\n{owner}\n{expires}".encode(), hashlib.sha256).digest()
    signature = base64.urlsafe_b64encode(mac).rstrip(b"=").decode()
    return f"/storage/files/{name}?owner={owner}&expires={expires}&signature={signature}"


def volume_files(stack: Stack) -> list[str]:
    return sorted(p.name for p in (stack.state_dir / "storage_data").rglob("*") if p.is_file())


@pytest.mark.stack
def test_download_through_the_edge_is_nginx_serving_the_volume(
    edge: httpx.Client, internal: httpx.Client
) -> None:
    content = os.urandom(200_000)
    name = store(internal, content, "photo.PNG")
    response = edge.get(link(internal, name))
    assert response.status_code == 200
    assert response.content == content
    assert response.headers["content-type"] == "image/png"
    assert response.headers["content-disposition"] == "inline"
    assert response.headers.get_list("content-security-policy") == [FILE_CSP]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "x-accel-redirect" not in response.headers
    assert response.headers["etag"] and response.headers["last-modified"]


@pytest.mark.stack
def test_range_and_conditional_requests_work_through_the_edge(
    edge: httpx.Client, internal: httpx.Client
) -> None:
    content = bytes(range(256)) * 1000
    path = link(internal, store(internal, content, "scan.pdf"))
    partial = edge.get(path, headers={"Range": "bytes=1000-1999"})
    assert partial.status_code == 206
    assert partial.content == content[1000:2000]
    assert partial.headers["content-range"] == f"bytes 1000-1999/{len(content)}"
    etag = edge.head(path).headers["etag"]
    assert edge.get(path, headers={"If-None-Match": etag}).status_code == 304
    stale_range = edge.get(path, headers={"Range": "bytes=0-9", "If-Range": '"other"'})
    assert stale_range.status_code == 200 and stale_range.content == content


@pytest.mark.stack
def test_uploaded_html_downloads_sandboxed(edge: httpx.Client, internal: httpx.Client) -> None:
    name = store(internal, b"<script>alert(document.cookie)</script>", "page.html")
    response = edge.get(link(internal, name))
    assert response.status_code == 200
    assert response.headers["content-disposition"] == "attachment"
    assert response.headers.get_list("content-security-policy") == [FILE_CSP]


@pytest.mark.stack
def test_even_the_real_token_cannot_write_through_the_edge(
    stack: Stack, edge: httpx.Client, internal: httpx.Client
) -> None:
    name = store(internal, b"keep me", "keep.txt")
    before = volume_files(stack)
    token = {"Authorization": f"Bearer {stack.env['STORAGE_TOKEN']}"}
    attempts = [
        ("POST", "/storage/upload?filename=evil.txt"),
        ("DELETE", f"/storage/files/{name}"),
        ("PUT", f"/storage/files/{name}"),
        ("GET", f"/storage/meta/{name}"),
    ]
    for method, path in attempts:
        response = edge.request(method, path, content=b"evil", headers=token)
        assert response.status_code in (403, 404, 405), (method, path, response.status_code)
    assert volume_files(stack) == before
    assert edge.get(link(internal, name)).content == b"keep me"


@pytest.mark.stack
@pytest.mark.parametrize(
    "attempt",
    [
        "..%2f..%2f..%2fetc%2fpasswd",
        "%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "..%5c..%5cetc%5cpasswd",
        "%2fetc%2fpasswd",
        "{name}%00.png",
        ".tmp",
        "{aa}%2f{bb}%2f{name}",
    ],
)
def test_traversal_through_the_edge_finds_nothing(
    edge: httpx.Client, internal: httpx.Client, attempt: str
) -> None:
    name = store(internal, b"stored bytes", "a.txt")
    path = attempt.format(name=name, aa=name[:2], bb=name[2:4])
    # Sent as written: httpx must not normalise the encoded dots and slashes away.
    base = str(edge.base_url).rstrip("/")
    response = edge.get(httpx.URL(f"{base}/storage/files/{path}"))
    assert response.status_code in (400, 404), response.status_code
    assert b"root:" not in response.content and b"stored bytes" not in response.content


@pytest.mark.stack
def test_a_deleted_file_is_gone_from_the_edge(
    stack: Stack, edge: httpx.Client, internal: httpx.Client
) -> None:
    name = store(internal, b"short-lived", "a.txt")
    assert edge.get(link(internal, name)).status_code == 200
    assert internal.delete(f"/storage/files/{name}").status_code == 204
    gone = edge.get(link(internal, name))
    assert gone.status_code == 404
    # Storage answers in the site's language (UI_LANGUAGE; the default stack is French).
    expected = {"fr": "Aucun fichier de ce nom.", "en": "No such file."}
    assert gone.json() == {"detail": expected[stack.env["UI_LANGUAGE"]]}
