import base64
import hashlib
import hmac
import time
from datetime import datetime
from urllib.parse import parse_qsl

import anyio
import httpx
import pytest
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import JSONResponse

from app import crud
from app.core.config import settings
from tests.conftest import Member, upload
from tests.storage_fake import FakeStorage

pytestmark = pytest.mark.anyio

MB = 1_000_000  # decimal, as settings.env, the interface and the API messages count


async def test_upload_stores_the_file_and_describes_it(
    client: httpx.AsyncClient, user: Member, storage: FakeStorage
) -> None:
    data = b"hello, storage\n" * 1000
    response = await upload(client, user, data, name="report.txt")
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["name"] == "report.txt"
    assert body["size"] == len(data)
    assert body["sha256"] == hashlib.sha256(data).hexdigest()
    assert body["content_type"] == "text/plain"
    path, _, query = body["url"].partition("?")
    stored_name = path.removeprefix("/storage/files/")
    assert path.startswith("/storage/files/") and stored_name.endswith(".txt")
    assert storage.files[stored_name] == data
    assert set(body) == {
        "id", "name", "size", "sha256", "content_type", "url", "url_expires_at", "created_at"
    }  # fmt: skip
    # A private link for its owner, signed as the storage service checks it (its app/links.py).
    params = dict(parse_qsl(query))
    assert params["owner"] == str(user.id)
    expires = int(params["expires"])
    lifetime = expires - time.time()
    assert (
        settings.DOWNLOAD_LINK_MINUTES * 60 <= lifetime <= settings.DOWNLOAD_LINK_MINUTES * 60 + 60
    )
    assert datetime.fromisoformat(body["url_expires_at"]).timestamp() == expires
    key = hmac.new(settings.STORAGE_TOKEN.encode(), b"closo download links v1", "sha256").digest()
    mac = hmac.new(key, f"{stored_name}\n{user.id}\n{expires}".encode(), "sha256").digest()
    assert params["signature"] == base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


async def test_upload_forwards_the_body_while_it_arrives(
    client: httpx.AsyncClient, user: Member, storage: FakeStorage
) -> None:
    """The client holds back its second half until storage has seen the first: a backend
    that buffered the whole body first would never forward anything, and this would time out."""
    boundary = "streamtest"
    first_half_seen = anyio.Event()

    async def first_chunk_arrived() -> None:
        first_half_seen.set()

    storage.on_first_chunk = first_chunk_arrived

    async def body():
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="big.bin"\r\nContent-Type: application/octet-stream\r\n\r\n'
        ).encode() + b"a" * 65536
        with anyio.fail_after(5):
            await first_half_seen.wait()
        yield b"b" * 65536 + f"\r\n--{boundary}--\r\n".encode()

    response = await client.post(
        "/api/upload",
        headers={**user.headers, "Content-Type": f"multipart/form-data; boundary={boundary}"},
        content=body(),
    )
    assert response.status_code == 201, response.text
    assert response.json()["size"] == 2 * 65536
    assert storage.chunks_received >= 2


@pytest.mark.parametrize(
    ("sent", "shown"),
    [("../../etc/passwd", "passwd"), ("C:\\Users\\ada\\cv.pdf", "cv.pdf"), ("dir/", "file")],
    ids=["unix-path", "windows-path", "no-base-name"],
)
async def test_upload_keeps_only_the_base_name(
    client: httpx.AsyncClient, user: Member, sent: str, shown: str
) -> None:
    response = await upload(client, user, b"x", name=sent)
    assert response.status_code == 201
    assert response.json()["name"] == shown


async def test_upload_needs_a_login(client: httpx.AsyncClient, storage: FakeStorage) -> None:
    response = await client.post("/api/upload", files={"file": ("a.txt", b"x", "text/plain")})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert storage.files == {}


async def test_upload_refuses_a_body_that_is_not_multipart(
    client: httpx.AsyncClient, user: Member
) -> None:
    response = await client.post("/api/upload", headers=user.headers, json={"file": "x"})
    assert response.status_code == 415
    assert "multipart/form-data" in response.json()["detail"]


async def test_upload_without_a_file_field_says_what_to_send(
    client: httpx.AsyncClient, user: Member
) -> None:
    response = await client.post(
        "/api/upload", headers=user.headers, files={"document": ("a.txt", b"x", "text/plain")}
    )
    assert response.status_code == 422
    assert "field named 'file'" in response.json()["detail"]


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (
            b'--b\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\nabc',
            "The upload was cut short (the multipart body is incomplete): send the file again.",
        ),
        (
            b"this is not multipart at all",
            "The multipart body is malformed: send the file from a form or a standard HTTP client.",
        ),
    ],
    ids=["cut-short", "garbage"],
)
async def test_upload_of_a_broken_body_is_a_400_and_stores_nothing(
    client: httpx.AsyncClient, user: Member, storage: FakeStorage, body: bytes, detail: str
) -> None:
    response = await client.post(
        "/api/upload",
        headers={**user.headers, "Content-Type": "multipart/form-data; boundary=b"},
        content=body,
    )
    assert response.status_code == 400
    assert response.json() == {"detail": detail}
    assert storage.files == {}
    assert (await client.get("/api/files", headers=user.headers)).json()["total"] == 0


async def test_upload_over_the_size_limit_is_a_413_and_stores_nothing(
    client: httpx.AsyncClient, user: Member, storage: FakeStorage
) -> None:
    async def body():  # no Content-Length: the limit is enforced while reading
        yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="big"\r\n\r\n'
        for _ in range(settings.MAX_UPLOAD_MB * 16 + 1):
            yield b"z" * 65536
        yield b"\r\n--b--\r\n"

    response = await client.post(
        "/api/upload",
        headers={**user.headers, "Content-Type": "multipart/form-data; boundary=b"},
        content=body(),
    )
    assert response.status_code == 413
    assert response.json() == {"detail": "The file is larger than the 1 MB upload limit."}
    assert storage.files == {}
    assert (await client.get("/api/files", headers=user.headers)).json()["total"] == 0


async def test_upload_with_a_too_large_content_length_is_refused_before_reading(
    client: httpx.AsyncClient, user: Member
) -> None:
    response = await upload(client, user, b"y" * (2 * MB))
    assert response.status_code == 413


async def test_upload_over_the_quota_is_a_507_with_a_message(
    client: httpx.AsyncClient, user: Member, storage: FakeStorage
) -> None:
    # Quota 2 MB, upload limit 1 MB: two files of 0.9 MB fit, a third does not.
    for _ in range(2):
        assert (await upload(client, user, b"q" * (9 * MB // 10))).status_code == 201
    response = await upload(client, user, b"q" * (3 * MB // 10))
    assert response.status_code == 507
    assert "quota of 2 MB" in response.json()["detail"]
    assert len(storage.files) == 2

    # Full to the byte: refused before the body is read.
    assert (await upload(client, user, b"q" * (2 * MB // 10 - 1))).status_code == 201
    missing = 2 * MB - sum(len(data) for data in storage.files.values())
    assert (await upload(client, user, b"q" * missing)).status_code == 201
    assert (await upload(client, user, b"q")).status_code == 507


async def test_concurrent_uploads_cannot_overrun_the_quota(
    client: httpx.AsyncClient, user: Member, storage: FakeStorage
) -> None:
    """Both uploads pass the first quota check; the second to record must lose its file."""
    both_streaming = anyio.Event()
    arrived = 0

    async def wait_for_the_other() -> None:
        nonlocal arrived
        arrived += 1
        if arrived == 2:
            both_streaming.set()
        with anyio.fail_after(5):
            await both_streaming.wait()

    size = 3 * MB // 4  # two fit in the 2 MB quota, three do not
    assert (await upload(client, user, b"c" * size)).status_code == 201
    storage.on_first_chunk = wait_for_the_other
    results: list[int] = []

    async def one() -> None:
        results.append((await upload(client, user, b"d" * size)).status_code)

    async with anyio.create_task_group() as group:
        group.start_soon(one)
        group.start_soon(one)
    assert sorted(results) == [201, 507]
    assert len(storage.files) == 2  # the loser's stored file was deleted
    assert (await client.get("/api/files", headers=user.headers)).json()["total"] == 2


async def test_upload_when_storage_is_down_is_a_503_and_records_nothing(
    client: httpx.AsyncClient, user: Member, storage: FakeStorage
) -> None:
    storage.down = True
    response = await upload(client, user, b"data")
    assert response.status_code == 503
    assert response.json() == {
        "detail": "The file storage service is unavailable; try again in a moment."
    }
    assert (await client.get("/api/files", headers=user.headers)).json()["total"] == 0


@pytest.mark.parametrize(
    ("storage_status", "expected"), [(507, 507), (413, 413), (500, 502), (401, 502)]
)
async def test_upload_passes_storage_refusals_on_clearly(
    client: httpx.AsyncClient,
    user: Member,
    storage: FakeStorage,
    storage_status: int,
    expected: int,
) -> None:
    storage.answer = JSONResponse({"detail": "no"}, status_code=storage_status)
    response = await upload(client, user, b"data")
    assert response.status_code == expected
    assert isinstance(response.json()["detail"], str)
    assert (await client.get("/api/files", headers=user.headers)).json()["total"] == 0


@pytest.mark.parametrize(
    "report",
    [lambda stored: {**stored, "name": "../../etc/passwd"}, lambda stored: {"size": 1}],
    ids=["unsafe-name", "missing-fields"],
)
async def test_upload_refuses_a_malformed_storage_answer(
    client: httpx.AsyncClient, user: Member, storage: FakeStorage, report
) -> None:
    storage.report = report
    response = await upload(client, user, b"data")
    assert response.status_code == 502
    assert (await client.get("/api/files", headers=user.headers)).json()["total"] == 0


async def test_a_client_that_leaves_mid_upload_leaves_nothing_behind(
    app, client: httpx.AsyncClient, user: Member, storage: FakeStorage
) -> None:
    """Drives the ASGI app directly: only there can the client vanish mid-body."""
    head = b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.bin"\r\n\r\n'
    messages = [
        {"type": "http.request", "body": head + b"x" * 1000, "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[dict] = []

    async def receive() -> dict:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "https",
        "path": "/api/upload",
        "raw_path": b"/api/upload",
        "query_string": b"",
        "root_path": "",
        "client": ("127.0.0.1", 1),
        "server": ("testserver", 443),
        "headers": [
            (b"host", b"testserver"),
            (b"content-type", b"multipart/form-data; boundary=b"),
            (b"authorization", user.headers["Authorization"].encode()),
        ],
    }
    await app(scope, receive, send)
    assert sent[0]["status"] == 400
    assert b"interrupted" in sent[1]["body"]
    assert storage.files == {}
    assert (await client.get("/api/files", headers=user.headers)).json()["total"] == 0


def _commit_then_lose_the_connection(monkeypatch: pytest.MonkeyPatch, *, committed: bool) -> None:
    """The database connection drops at the COMMIT of the file's row (the upload's second commit;
    the first hands the connection back before the transfer): after it took effect, or before."""
    real_commit = AsyncSession.commit
    calls = 0

    async def commit(self: AsyncSession) -> None:
        nonlocal calls
        calls += 1
        if calls != 2 or committed:
            await real_commit(self)
        if calls == 2:
            raise OperationalError("COMMIT", {}, Exception("server closed the connection"))

    monkeypatch.setattr(AsyncSession, "commit", commit)


async def test_a_commit_lost_after_it_took_effect_keeps_the_file(
    client: httpx.AsyncClient, user: Member, storage: FakeStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The row exists although the request failed: its file must stay, or the user loses it."""
    _commit_then_lose_the_connection(monkeypatch, committed=True)
    response = await upload(client, user, b"kept bytes")
    monkeypatch.undo()
    assert response.status_code == 503
    listed = (await client.get("/api/files", headers=user.headers)).json()["items"]
    assert [item["size"] for item in listed] == [len(b"kept bytes")]
    assert list(storage.files.values()) == [b"kept bytes"]


async def test_a_commit_that_did_not_happen_deletes_the_stored_file(
    client: httpx.AsyncClient, user: Member, storage: FakeStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    _commit_then_lose_the_connection(monkeypatch, committed=False)
    response = await upload(client, user, b"gone bytes")
    monkeypatch.undo()
    assert response.status_code == 503
    assert (await client.get("/api/files", headers=user.headers)).json()["total"] == 0
    assert storage.files == {}


async def test_when_the_outcome_cannot_be_checked_the_file_is_kept(
    client: httpx.AsyncClient, user: Member, storage: FakeStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Database still unreachable after a failed commit: the file stays until the database can
    say that no row has it, then it goes (no orphan, and never a row without its file)."""
    _commit_then_lose_the_connection(monkeypatch, committed=False)

    async def unreachable(**_: object) -> bool:
        raise OperationalError("SELECT", {}, Exception("connection refused"))

    monkeypatch.setattr(crud, "file_row_exists", unreachable)
    response = await upload(client, user, b"orphan bytes")
    assert response.status_code == 503
    await anyio.sleep(1.2)  # the database still does not answer: the file is kept meanwhile
    assert list(storage.files.values()) == [b"orphan bytes"]
    monkeypatch.undo()  # the database answers again
    for _ in range(50):  # settled within a retry interval or two
        if not storage.files:
            break
        await anyio.sleep(0.1)
    assert storage.files == {}
    assert (await client.get("/api/files", headers=user.headers)).json()["total"] == 0
