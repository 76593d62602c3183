"""STORAGE_BACKEND=s3 end to end: the stack rendered with the s3 answers, booted by its native
runner, its files in a real SeaweedFS that requires signed requests (tests/support/seaweedfs).

Uploads go through the edge and the backend to storage, which streams them into the bucket
(multipart beyond one part); downloads go through the edge, which fetches the presigned URL that
storage hands it. Nothing is a stand-in: the store is a real S3 server, the edge a real nginx.
"""

from __future__ import annotations

import hashlib
import os
import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from support.project import Stack, boot_stack, in_site_language
from support.seaweedfs import SeaweedFS, client, seaweedfs

pytestmark = pytest.mark.stack

MIB = 1024 * 1024
LIMIT_MB = 10  # above one S3 part (8 MiB), so a refused upload has parts to abort
BUCKET = "closo-files"
FILE_CSP = "default-src 'none'; frame-ancestors 'none'; sandbox"


@pytest.fixture(scope="module")
def store(session_tmp: Path) -> Iterator[SeaweedFS]:
    with seaweedfs(session_tmp / "s3-store") as running:
        client(running).create_bucket(Bucket=BUCKET)
        yield running


@pytest.fixture(scope="module")
def s3_stack(session_tmp: Path, store: SeaweedFS) -> Iterator[Stack]:
    booted = boot_stack(
        session_tmp / "s3-stack",
        settings={"AUTH_RATE_PER_MINUTE": "600"},
        storage_backend="s3",
        s3_endpoint=store.endpoint,
        s3_region=store.region,
        s3_bucket=BUCKET,
        s3_access_key_id=store.access_key_id,
        s3_secret_access_key=store.secret_access_key,
        max_upload_mb=LIMIT_MB,
    )
    yield booted
    booted.down()


@pytest.fixture(scope="module")
def edge(s3_stack: Stack) -> Iterator[httpx.Client]:
    context = ssl.create_default_context(cafile=s3_stack.state_dir / "tls" / "selfsigned.crt")
    with httpx.Client(base_url=s3_stack.url, verify=context, timeout=60) as http:
        yield http


@pytest.fixture(scope="module")
def user_headers(edge: httpx.Client) -> dict[str, str]:
    email, password = "s3.user@example.com", "correct horse battery"
    assert edge.post("/api/auth/register", json={"email": email, "password": password}).is_success
    login = edge.post("/api/auth/login", data={"username": email, "password": password})
    return {"Authorization": f"Bearer {login.json()['access_token']}"}


def bucket_contents(store: SeaweedFS) -> list[str]:
    """Objects of the bucket and its open multipart uploads (`upload:<key>`)."""
    s3 = client(store)
    objects = s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])
    uploads = s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])
    return sorted([o["Key"] for o in objects] + [f"upload:{u['Key']}" for u in uploads])


def test_the_s3_answers_reach_settings_and_env_but_not_the_answers_file(s3_stack: Stack) -> None:
    project = s3_stack.project
    assert s3_stack.env["STORAGE_BACKEND"] == "s3"
    assert s3_stack.env["S3_BUCKET"] == BUCKET
    answers = (project / ".copier-answers.yml").read_text()
    assert "storage_backend: s3" in answers
    assert s3_stack.env["S3_SECRET_ACCESS_KEY"] not in answers
    assert s3_stack.env["S3_ACCESS_KEY_ID"] not in answers
    assert s3_stack.env["S3_SECRET_ACCESS_KEY"] not in (project / "settings.env").read_text()
    assert "S3_SECRET_ACCESS_KEY=" in (project / ".env").read_text()


def test_upload_through_the_api_lands_in_the_bucket_and_downloads_through_the_edge(
    edge: httpx.Client, user_headers: dict[str, str], store: SeaweedFS
) -> None:
    content = os.urandom(9 * MIB) + b"end"  # two parts of a multipart upload
    uploaded = edge.post(
        "/api/upload",
        headers=user_headers,
        files={"file": ("Holiday photo.PNG", content, "image/png")},
    )
    assert uploaded.status_code == 201, uploaded.text
    record = uploaded.json()
    assert record["sha256"] == hashlib.sha256(content).hexdigest()
    assert record["size"] == len(content)
    stored_name = record["url"].split("?")[0].rsplit("/", 1)[1]
    assert stored_name in bucket_contents(store)

    download = edge.get(record["url"])
    assert download.status_code == 200
    assert download.content == content
    assert download.headers["content-type"] == "image/png"
    assert download.headers["content-disposition"] == "inline"
    assert download.headers.get_list("content-security-policy") == [FILE_CSP]
    assert download.headers["x-content-type-options"] == "nosniff"
    # A private link that expires (DOWNLOAD_LINK_MINUTES, 60 by default): cached no longer.
    cache_control = download.headers["cache-control"]
    assert cache_control.startswith("private, max-age="), cache_control
    assert 0 < int(cache_control.rsplit("=", 1)[1]) <= 3660, cache_control
    assert download.headers["etag"] and download.headers["last-modified"]
    # Nothing of the store's own answer or of the internal redirect reaches the browser.
    leaked = [key for key in download.headers if key.startswith(("x-amz", "seaweed", "x-accel"))]
    assert leaked == []

    partial = edge.get(record["url"], headers={"Range": "bytes=1000-1999"})
    assert partial.status_code == 206
    assert partial.content == content[1000:2000]
    assert partial.headers["content-range"] == f"bytes 1000-1999/{len(content)}"
    assert partial.headers.get_list("content-security-policy") == [FILE_CSP]
    head = edge.head(record["url"])
    assert head.status_code == 200 and head.headers["content-length"] == str(len(content))
    etag = download.headers["etag"]
    assert edge.get(record["url"], headers={"If-None-Match": etag}).status_code == 304
    garbage_date = edge.get(record["url"], headers={"If-Modified-Since": "yesterday"})
    assert garbage_date.status_code == 200
    stale_range = edge.get(record["url"], headers={"Range": "bytes=0-9", "If-Range": '"other"'})
    assert stale_range.status_code == 200 and len(stale_range.content) == len(content)
    fresh_range = edge.get(record["url"], headers={"Range": "bytes=0-9", "If-Range": etag})
    assert fresh_range.status_code == 206 and fresh_range.content == content[:10]


def test_uploaded_html_downloads_as_an_inert_attachment(
    edge: httpx.Client, user_headers: dict[str, str]
) -> None:
    page = b"<script>alert(document.cookie)</script>"
    uploaded = edge.post(
        "/api/upload", headers=user_headers, files={"file": ("page.html", page, "text/html")}
    )
    assert uploaded.status_code == 201, uploaded.text
    download = edge.get(uploaded.json()["url"])
    assert download.content == page
    assert download.headers["content-type"].startswith("text/html")
    assert download.headers["content-disposition"] == "attachment"
    assert download.headers.get_list("content-security-policy") == [FILE_CSP]


def test_a_deleted_file_is_a_json_404_at_the_edge_and_gone_from_the_bucket(
    s3_stack: Stack, edge: httpx.Client, user_headers: dict[str, str], store: SeaweedFS
) -> None:
    uploaded = edge.post(
        "/api/upload", headers=user_headers, files={"file": ("a.txt", b"short-lived", "text/plain")}
    ).json()
    name = uploaded["url"].rsplit("/", 1)[1]
    assert edge.delete(f"/api/files/{uploaded['id']}", headers=user_headers).status_code == 204
    assert name not in bucket_contents(store)
    gone = edge.get(uploaded["url"])
    assert gone.status_code == 404
    assert gone.json()["detail"] == in_site_language(
        s3_stack, fr="Aucun fichier de ce nom.", en="No such file."
    )


def test_one_byte_over_the_limit_is_refused_and_its_multipart_upload_aborted(
    s3_stack: Stack, edge: httpx.Client, user_headers: dict[str, str], store: SeaweedFS
) -> None:
    before = bucket_contents(store)
    too_big = b"o" * (LIMIT_MB * MIB + 1)
    through_api = edge.post(
        "/api/upload", headers=user_headers, files={"file": ("big.bin", too_big, "a/b")}
    )
    assert through_api.status_code == 413
    # Straight to storage, as the backend streams: the size is known only at the end, after a
    # first part has gone to the store.
    storage = f"http://127.0.0.1:{s3_stack.port('storage')}"

    def body() -> Iterator[bytes]:
        for start in range(0, len(too_big), MIB):
            yield too_big[start : start + MIB]

    direct = httpx.post(
        f"{storage}/storage/upload?filename=big.bin",
        content=body(),
        headers={"Authorization": f"Bearer {s3_stack.env['STORAGE_TOKEN']}"},
        timeout=60,
    )
    assert direct.status_code == 413
    assert direct.json()["detail"] == in_site_language(
        s3_stack,
        fr=f"Le fichier dépasse la limite d'envoi de {LIMIT_MB} Mo : envoyez un fichier plus "
        "petit.",
        en=f"The file is larger than the {LIMIT_MB} MB upload limit.",
    )
    assert bucket_contents(store) == before
    assert not any(kept.startswith("upload:") for kept in before)


def test_readiness_checks_the_bucket(s3_stack: Stack) -> None:
    storage = f"http://127.0.0.1:{s3_stack.port('storage')}"
    token = {"Authorization": f"Bearer {s3_stack.env['STORAGE_TOKEN']}"}
    assert httpx.get(f"{storage}/storage/health/ready", headers=token).json() == {"status": "ok"}
