import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from app.api.routes import health
from app.core.config import settings
from app.core.db import get_session
from tests.storage_fake import FakeStorage

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True)
def _check_every_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test sees its own check, not the answer of the previous test's."""
    monkeypatch.setattr(health, "READY_REUSE_SECONDS", 0)


async def test_health_answers_ok(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_ready_when_database_and_storage_answer(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/health/ready")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "storage": "ok"}


async def test_not_ready_names_the_storage_when_it_is_down(
    client: httpx.AsyncClient, storage: FakeStorage
) -> None:
    storage.down = True
    response = await client.get("/api/health/ready")
    assert response.status_code == 503
    assert response.json()["checks"] == {"database": "ok", "storage": "unreachable"}
    assert "storage" in response.json()["detail"]


async def test_not_ready_names_the_database_when_it_is_unreachable(
    app, client: httpx.AsyncClient
) -> None:
    nowhere = create_async_engine(settings.database_url.set(host="127.0.0.1", port=1))

    async def unreachable_session():
        async with AsyncSession(nowhere) as session:
            yield session

    app.dependency_overrides[get_session] = unreachable_session
    try:
        response = await client.get("/api/health/ready")
    finally:
        del app.dependency_overrides[get_session]
        await nowhere.dispose()
    assert response.status_code == 503
    assert response.json()["checks"] == {"database": "unreachable", "storage": "ok"}
    assert response.json()["detail"] == "Not ready: database unreachable."


async def test_ready_checks_at_most_once_a_second_whoever_asks(
    client: httpx.AsyncClient, storage: FakeStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check is public: a flood of it must not turn into a flood of queries and fsyncs."""
    monkeypatch.setattr(health, "READY_REUSE_SECONDS", 60)
    monkeypatch.setattr(health, "_last", (float("-inf"), {}))
    assert (await client.get("/api/health/ready")).status_code == 200
    storage.down = True
    # Within the reuse time the answer is the last check's, not a new one.
    assert (await client.get("/api/health/ready")).status_code == 200
    monkeypatch.setattr(health, "READY_REUSE_SECONDS", 0)
    assert (await client.get("/api/health/ready")).status_code == 503
