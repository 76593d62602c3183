import base64
import hashlib
import hmac
import time
import uuid
from datetime import datetime
from urllib.parse import parse_qsl

import anyio
import httpx
import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import JSONResponse

from app import crud
from app.core.config import settings
from app.core.db import SessionFactory, engine
from app.services import owner_blocks
from tests.conftest import Member, create_user
from tests.storage_fake import FakeStorage

pytestmark = pytest.mark.anyio

MB = 1_000_000  # decimal, as settings.env, the interface and the API messages count


async def upload(
    client: httpx.AsyncClient,
    user: Member,
    data: bytes,
    name: str = "notes.txt",
    content_type: str = "text/plain",
) -> httpx.Response:
    return await client.post(
        "/api/upload", headers=user.headers, files={"file": (name, data, content_type)}
    )


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


async def test_files_are_listed_newest_first_and_paginated(
    client: httpx.AsyncClient, user: Member
) -> None:
    names = [f"file-{index}.txt" for index in range(3)]
    for name in names:
        assert (await upload(client, user, b"x", name=name)).status_code == 201
    page = (await client.get("/api/files?limit=2", headers=user.headers)).json()
    assert page["total"] == 3
    assert [item["name"] for item in page["items"]] == ["file-2.txt", "file-1.txt"]
    rest = (await client.get("/api/files?offset=2&limit=2", headers=user.headers)).json()
    assert [item["name"] for item in rest["items"]] == ["file-0.txt"]


async def names_of(client: httpx.AsyncClient, user: Member, query: str) -> list[str]:
    response = await client.get(f"/api/files?{query}", headers=user.headers)
    assert response.status_code == 200, response.text
    return [item["name"] for item in response.json()["items"]]


async def test_search_matches_any_part_of_the_name_in_any_case(
    client: httpx.AsyncClient, user: Member
) -> None:
    names = ("Facture-2025-03.pdf", "facture_2024.PDF", "photo.png", "Été à Nice.jpg", "100%.txt")
    for name in names:
        assert (await upload(client, user, b"x", name=name)).status_code == 201
    response = await client.get("/api/files?q=FACTURE", headers=user.headers)
    assert response.json()["total"] == 2
    assert sorted(item["name"] for item in response.json()["items"]) == [
        "Facture-2025-03.pdf",
        "facture_2024.PDF",
    ]
    assert sorted(await names_of(client, user, "q=.pdf")) == [
        "Facture-2025-03.pdf",
        "facture_2024.PDF",
    ]
    assert await names_of(client, user, "q=%C3%A9t%C3%A9") == ["Été à Nice.jpg"]  # "été"
    assert await names_of(client, user, "q=++photo++") == ["photo.png"]  # spaces around trimmed
    # LIKE's wildcards are plain characters in a search.
    assert await names_of(client, user, "q=%25") == ["100%.txt"]
    assert await names_of(client, user, "q=e_2") == ["facture_2024.PDF"]
    nothing = await client.get("/api/files?q=invoice", headers=user.headers)
    assert nothing.json() == {"items": [], "total": 0}
    assert len(await names_of(client, user, "q=")) == 5  # an empty search lists everything


async def test_files_sort_by_name_date_and_size_both_ways(
    client: httpx.AsyncClient, user: Member
) -> None:
    for name, size in (("b.txt", 300), ("A.txt", 100), ("c.txt", 200)):
        assert (await upload(client, user, b"x" * size, name=name)).status_code == 201
    assert await names_of(client, user, "sort=name") == ["A.txt", "b.txt", "c.txt"]  # any case
    assert await names_of(client, user, "sort=name&order=desc") == ["c.txt", "b.txt", "A.txt"]
    assert await names_of(client, user, "sort=size") == ["b.txt", "c.txt", "A.txt"]
    assert await names_of(client, user, "sort=size&order=asc") == ["A.txt", "c.txt", "b.txt"]
    assert await names_of(client, user, "sort=date") == ["c.txt", "A.txt", "b.txt"]
    assert await names_of(client, user, "sort=date&order=asc") == ["b.txt", "A.txt", "c.txt"]
    assert await names_of(client, user, "") == ["c.txt", "A.txt", "b.txt"]  # newest first


async def test_search_ignores_accents_as_a_french_reader_expects(
    client: httpx.AsyncClient, user: Member
) -> None:
    names = ("Dossier Dupré.pdf", "Lefèvre - bail.docx", "Été 2025.jpg", "Noël.txt", "dupont.txt")
    for name in names:
        assert (await upload(client, user, b"x", name=name)).status_code == 201
    assert await names_of(client, user, "q=dupre") == ["Dossier Dupré.pdf"]
    assert await names_of(client, user, "q=LEFEVRE") == ["Lefèvre - bail.docx"]
    assert await names_of(client, user, "q=ete") == ["Été 2025.jpg"]
    assert await names_of(client, user, "q=no%C3%ABl") == ["Noël.txt"]  # typed with its accent
    assert await names_of(client, user, "q=dupr%C3%A9") == ["Dossier Dupré.pdf"]  # "dupré"


async def test_pages_of_a_sorted_search_cover_every_match_once(
    client: httpx.AsyncClient, user: Member
) -> None:
    # Equal sizes: the order between them must still be the same on every page.
    for index in range(7):
        assert (await upload(client, user, b"same", name=f"scan-{index}.png")).status_code == 201
    assert (await upload(client, user, b"other", name="notes.txt")).status_code == 201
    seen = []
    for offset in (0, 3, 6):
        response = await client.get(
            f"/api/files?q=scan&sort=size&order=asc&offset={offset}&limit=3", headers=user.headers
        )
        assert response.json()["total"] == 7
        seen += [item["name"] for item in response.json()["items"]]
    assert sorted(seen) == [f"scan-{index}.png" for index in range(7)]


@pytest.mark.parametrize(
    ("query", "where", "error_type", "words"),
    [
        ("sort=colour", "sort", "literal_error", ["'name'", "'date'", "'size'"]),
        ("order=up", "order", "literal_error", ["'asc'", "'desc'"]),
        ("q=" + "x" * 256, "q", "string_too_long", ["255"]),
        ("q=a%00b", "q", "value_error", ["control characters"]),  # PostgreSQL refuses NUL
        ("q=%1B%5B2J", "q", "value_error", ["control characters"]),
        ("offset=-1", "offset", "greater_than_equal", ["0"]),
        ("limit=1000", "limit", "less_than_equal", ["100"]),
    ],
)
async def test_a_bad_list_parameter_is_a_422_naming_it(
    client: httpx.AsyncClient,
    user: Member,
    query: str,
    where: str,
    error_type: str,
    words: list[str],
) -> None:
    response = await client.get(f"/api/files?{query}", headers=user.headers)
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert (error["loc"], error["type"]) == (["query", where], error_type)
    assert all(word in error["msg"] for word in words), error["msg"]


async def test_the_list_parameters_are_in_the_openapi_document(app) -> None:
    parameters = {
        parameter["name"]: parameter
        for parameter in app.openapi()["paths"]["/api/files"]["get"]["parameters"]
    }
    assert {"offset", "limit", "q", "sort", "order"} <= parameters.keys()
    assert parameters["sort"]["schema"]["enum"] == ["name", "date", "size"]
    assert parameters["sort"]["schema"]["default"] == "date"
    assert parameters["q"]["schema"]["maxLength"] == 255
    assert ["asc", "desc"] in (
        option.get("enum") for option in parameters["order"]["schema"]["anyOf"]
    )
    assert all(parameters[name].get("description") for name in ("q", "sort", "order"))


async def test_ten_thousand_files_are_searched_and_sorted_through_indexes(
    client: httpx.AsyncClient, user: Member
) -> None:
    """EXPLAIN ANALYZE of the list's own statements: 10,000 files of one user among 50,000."""
    neighbour = await create_user(client)
    async with SessionFactory() as session:
        # Names of their own (a search for the user's words finds few of the neighbour's rows).
        for owner, count, words in (
            (user.id, 10_000, ["Facture", "photo", "Rapport"]),
            (neighbour.id, 40_000, ["IMG", "scan", "doc"]),
        ):
            await session.execute(
                text(
                    "INSERT INTO files "
                    "(id, owner_id, name, stored_name, size, sha256, content_type) "
                    "SELECT gen_random_uuid(), CAST(:owner AS uuid), "
                    "(CAST(:words AS text[]))[1 + i % 3] || '-' || i || '.pdf', "
                    "md5(i::text || :owner_text), i * 7919 % 100000, "
                    "md5(i::text) || md5(i::text), 'application/pdf' "
                    "FROM generate_series(1, :count) AS i"
                ),
                {"owner": str(owner), "owner_text": str(owner), "count": count, "words": words},
            )
        await session.commit()
        await session.execute(text("ANALYZE files"))
        statements: list[tuple[str, object]] = []

        def capture(conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001
            statements.append((statement, parameters))

        async def plans_of(**query: object) -> list[str]:
            statements.clear()
            event.listen(engine.sync_engine, "before_cursor_execute", capture)
            try:
                files, total = await crud.list_files(
                    session, owner_id=user.id, offset=48, limit=24, **query
                )
            finally:
                event.remove(engine.sync_engine, "before_cursor_execute", capture)
            assert len(files) == min(24, max(0, total - 48))
            plans = []
            for statement, parameters in statements:
                connection = await session.connection()
                explained = await connection.exec_driver_sql(
                    f"EXPLAIN (ANALYZE, COSTS OFF) {statement}", parameters
                )
                plans.append("\n".join(row[0] for row in explained))
            return plans

        count, page = await plans_of(search="facture-12", sort="date", descending=True)
        assert "ix_files_name_trigram" in count and "ix_files_name_trigram" in page, count
        count, page = await plans_of(sort="name", descending=False)
        assert "Index Scan using ix_files_owner_id_lower_name" in page, page
        count, page = await plans_of(sort="size", descending=True)
        assert "Index Scan Backward using ix_files_owner_id_size" in page, page
        count, page = await plans_of(sort="date", descending=True)
        assert "ix_files_owner_id_created_at" in page, page
    assert (await client.get("/api/files?q=RAPPORT-9998", headers=user.headers)).json()[
        "total"
    ] == 1


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
