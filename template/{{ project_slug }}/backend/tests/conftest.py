"""Test set-up: a PostgreSQL database of the run's own, the app, a client, users.

Needs a PostgreSQL server where POSTGRES_USER may create databases, given by POSTGRES_HOST,
POSTGRES_PORT, POSTGRES_USER and POSTGRES_PASSWORD. The suite creates `test_<random>`, runs the
migrations there and drops it at the end: POSTGRES_DB and its data are never touched.
"""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass

import httpx
import psycopg
import pytest

TEST_DB = f"test_{secrets.token_hex(6)}"
MISSING = [
    name
    for name in ("POSTGRES_HOST", "POSTGRES_PORT", "POSTGRES_USER", "POSTGRES_PASSWORD")
    if not os.environ.get(name)
]
if MISSING:
    pytest.exit(
        f"Set {', '.join(MISSING)} to a PostgreSQL server where that user may create databases "
        "(the suite makes and drops a database of its own).",
        returncode=4,
    )

# The application's settings are read once at import: set them before anything imports `app`.
os.environ.update(
    POSTGRES_DB=TEST_DB,
    ENVIRONMENT="local",
    SECRET_KEY=secrets.token_hex(32),
    FIRST_ADMIN_EMAIL="admin@example.com",
    FIRST_ADMIN_PASSWORD=secrets.token_hex(12),
    STORAGE_URL="http://storage.test",
    STORAGE_TOKEN=secrets.token_hex(32),
    MAX_UPLOAD_MB="1",
    USER_QUOTA_MB="2",
    ENABLE_DOCS="false",
    ACCESS_TOKEN_EXPIRE_MINUTES="15",
    REFRESH_TOKEN_EXPIRE_DAYS="14",
    # Most tests make their users by signing up; tests/api/routes/test_admin.py tries the others.
    REGISTRATION="open",
    UI_LANGUAGE="en",
)

from app.core.config import settings  # noqa: E402
from app.main import app as application  # noqa: E402
from app.services.storage import StorageClient  # noqa: E402
from tests.storage_fake import FakeStorage  # noqa: E402

PASSWORD = "correct horse battery"


def _admin_connection() -> psycopg.Connection:
    return psycopg.connect(
        host=settings.POSTGRES_HOST,
        port=settings.POSTGRES_PORT,
        user=settings.POSTGRES_USER,
        password=settings.POSTGRES_PASSWORD,
        dbname="postgres",
        autocommit=True,
    )


@pytest.fixture(scope="session", autouse=True)
def database() -> Iterator[str]:
    with _admin_connection() as connection:
        connection.execute(f'CREATE DATABASE "{TEST_DB}"')
    try:
        from app import prestart

        prestart.main()  # migrations and the first admin, as at a real start
        yield TEST_DB
    finally:
        with _admin_connection() as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{TEST_DB}" WITH (FORCE)')


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def storage() -> FakeStorage:
    return FakeStorage(token=settings.STORAGE_TOKEN, max_bytes=settings.max_upload_bytes)


@pytest.fixture(scope="session")
async def app(anyio_backend: str, database: str, storage: FakeStorage) -> AsyncIterator:
    async with application.router.lifespan_context(application):
        await application.state.storage.aclose()
        application.state.storage = StorageClient(
            base_url=settings.STORAGE_URL,
            token=settings.STORAGE_TOKEN,
            transport=storage.transport(),
        )
        yield application


@pytest.fixture(autouse=True)
def _fresh_storage(storage: FakeStorage) -> None:
    storage.reset()


@pytest.fixture
def site_language(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    """Switch UI_LANGUAGE for one test, as settings.env would: every message comes through
    app.core.messages, which reads the setting at each answer (the suite's default is en)."""
    from app.core import messages

    def switch(language: str) -> None:
        monkeypatch.setattr(
            messages, "settings", settings.model_copy(update={"UI_LANGUAGE": language})
        )

    return switch


@pytest.fixture
async def client(app) -> AsyncIterator[httpx.AsyncClient]:
    # https: the refresh cookie is Secure, so the client only sends it back over https.
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as client:
        yield client


@dataclass
class Member:
    email: str
    password: str
    id: uuid.UUID
    headers: dict[str, str]


async def create_user(client: httpx.AsyncClient, *, password: str = PASSWORD) -> Member:
    email = f"user-{uuid.uuid4().hex[:12]}@example.com"
    response = await client.post("/api/auth/register", json={"email": email, "password": password})
    assert response.status_code == 201, response.text
    headers = await login(client, email, password)
    return Member(email, password, uuid.UUID(response.json()["id"]), headers)


async def login(client: httpx.AsyncClient, email: str, password: str) -> dict[str, str]:
    response = await client.post("/api/auth/login", data={"username": email, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@pytest.fixture
async def user(client: httpx.AsyncClient) -> Member:
    return await create_user(client)


@pytest.fixture
async def admin_headers(client: httpx.AsyncClient) -> dict[str, str]:
    return await login(client, settings.FIRST_ADMIN_EMAIL, settings.FIRST_ADMIN_PASSWORD)


async def upload(
    client: httpx.AsyncClient,
    user: Member,
    data: bytes,
    name: str = "notes.txt",
    content_type: str = "text/plain",
) -> httpx.Response:
    """POST /api/upload as `user`, one file in the multipart field the frontend uses."""
    return await client.post(
        "/api/upload", headers=user.headers, files={"file": (name, data, content_type)}
    )
