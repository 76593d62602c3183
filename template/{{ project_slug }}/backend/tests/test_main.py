"""The application as a whole: docs switch, error shape, access log."""

import json
import logging
import uuid

import httpx
import psycopg
import pytest
from fastapi import FastAPI
from sqlalchemy.exc import OperationalError

from app import main
from app.core.config import settings
from app.core.logging import JsonFormatter
from tests.conftest import Member

pytestmark = pytest.mark.anyio


def _app_with(monkeypatch, **overrides) -> FastAPI:
    monkeypatch.setattr(main, "settings", settings.model_copy(update=overrides))
    return main.create_app()


@pytest.mark.parametrize(
    ("overrides", "status"),
    [
        ({"ENVIRONMENT": "local", "ENABLE_DOCS": False}, 200),
        ({"ENVIRONMENT": "production", "ENABLE_DOCS": False}, 404),
        ({"ENVIRONMENT": "production", "ENABLE_DOCS": True}, 200),
    ],
    ids=["local", "production", "production-enabled"],
)
async def test_api_docs_are_served_only_when_enabled(monkeypatch, overrides, status) -> None:
    app = _app_with(monkeypatch, **overrides)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as client:
        assert (await client.get("/api/docs")).status_code == status
        assert (await client.get("/api/openapi.json")).status_code == status


async def test_an_unexpected_error_is_a_json_500_without_a_traceback(app) -> None:
    @app.get("/api/_boom")
    async def boom() -> None:
        raise RuntimeError("secret internals")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as client:
            response = await client.get("/api/_boom")
    finally:
        app.router.routes.pop()
    assert response.status_code == 500
    assert response.json() == {
        "detail": "Internal error: the server could not complete this request.",
        # The id a user quotes to the administrator: the one in the answer's header and logs.
        "request_id": response.headers["x-request-id"],
    }
    assert "secret internals" not in response.text


async def test_a_database_outage_is_a_503_with_a_message(
    client: httpx.AsyncClient, user: Member, monkeypatch
) -> None:
    async def unreachable(**_: object) -> None:
        raise psycopg.OperationalError("connection refused")

    monkeypatch.setattr("app.api.deps.get_account", unreachable)
    response = await client.get("/api/users/me", headers=user.headers)
    assert response.status_code == 503
    assert response.json() == {
        "detail": "The database is unavailable; try again in a moment.",
        "request_id": response.headers["x-request-id"],
    }


@pytest.mark.parametrize(
    "error",
    [
        psycopg.errors.DeadlockDetected("deadlock detected"),
        OperationalError("UPDATE users", {}, psycopg.errors.SerializationFailure("conflict")),
    ],
)
async def test_a_deadlock_is_a_409_try_again_not_an_outage(
    client: httpx.AsyncClient, user: Member, monkeypatch, error: Exception
) -> None:
    async def deadlocked(**_: object) -> None:
        raise error

    monkeypatch.setattr("app.api.deps.get_account", deadlocked)
    response = await client.get("/api/users/me", headers=user.headers)
    assert response.status_code == 409
    assert response.json() == {
        "detail": "Another change was made at the same moment: nothing was changed, try again."
    }


async def test_unknown_paths_answer_in_the_same_json_shape(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/nothing-here")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not Found: no such address in the API; check the URL."}
    wrong_method = await client.put("/api/health")
    assert wrong_method.status_code == 405
    assert wrong_method.headers["allow"] == "GET"
    assert wrong_method.json() == {"detail": "Method Not Allowed: this address does not take PUT."}


async def test_each_request_is_logged_as_one_json_line_without_secrets(
    client: httpx.AsyncClient, user: Member, caplog
) -> None:
    marker = uuid.uuid4().hex
    with caplog.at_level(logging.INFO):
        answer = await client.get(f"/api/users/me?token={marker}", headers=user.headers)
    formatter = JsonFormatter()
    lines = [formatter.format(record) for record in caplog.records]
    access = [json.loads(line) for line in lines if '"app.access"' in line]
    assert len(access) == 1
    assert "\n" not in lines[0]
    entry = access[0]
    assert entry["method"] == "GET"
    assert entry["path"] == entry["route"] == "/api/users/me"
    # Made here (no edge in front), answered back, and in the line; the user by id only.
    assert entry["request_id"] == answer.headers["x-request-id"]
    assert entry["user_id"] and "@" not in entry["user_id"]
    assert entry["status"] == 200
    assert entry["duration_ms"] >= 0
    everything = "".join(lines)
    assert marker not in everything
    assert user.headers["Authorization"].split()[1] not in everything
