"""Request ids, metrics, the page's error reports, the report scrubber: app/core/observability.py.

The layer tests/observability of the template checks the same against the booted stack, with a
real Sentry-protocol receiver; these check the parts one at a time."""

import httpx
import pytest

from app.api.routes import reports
from app.core import observability
from app.core.observability import release_name, scrub_event
from tests.conftest import Member

pytestmark = pytest.mark.anyio


async def test_metrics_count_requests_by_route_template(
    client: httpx.AsyncClient, user: Member
) -> None:
    assert (await client.get("/api/users/me", headers=user.headers)).status_code == 200
    assert (await client.get("/api/no/such/route")).status_code == 404
    text = (await client.get("/metrics")).text
    assert 'route="/api/users/me"' in text and 'route="(unmatched)"' in text
    assert "/api/no/such/route" not in text
    assert "db_pool_connections" in text and "http_request_duration_seconds_bucket" in text


async def test_an_id_from_the_edge_is_kept_and_a_strange_one_replaced(
    client: httpx.AsyncClient,
) -> None:
    kept = await client.get("/api/health", headers={"X-Request-ID": "0123456789abcdef"})
    assert kept.headers["x-request-id"] == "0123456789abcdef"
    odd = await client.get("/api/health", headers={"X-Request-ID": "<script>"})
    assert odd.headers["x-request-id"] != "<script>" and len(odd.headers["x-request-id"]) == 32


async def test_the_pages_errors_are_taken_bounded_and_throttled(
    client: httpx.AsyncClient, monkeypatch
) -> None:
    report = {"message": "TypeError: x is undefined", "source": "/js/main.js", "line": 3}
    assert (await client.post("/api/client-errors", json=report)).status_code == 204
    too_long = {"message": "x" * 501}
    assert (await client.post("/api/client-errors", json=too_long)).status_code == 422
    monkeypatch.setattr(reports, "_recent", type(reports._recent)(maxlen=1))
    monkeypatch.setattr(reports, "REPORTS_PER_MINUTE", 1)
    assert (await client.post("/api/client-errors", json=report)).status_code == 204
    refused = await client.post("/api/client-errors", json=report)
    assert refused.status_code == 429 and refused.json()["detail"]


def test_a_report_keeps_ids_and_loses_secrets() -> None:
    event = {
        "request": {
            "url": "https://site/api/x?token=abc",
            "headers": {"Authorization": "Bearer eyJhbGciOi.eyJzdWIi.sig", "X-Request-ID": "r1"},
            "cookies": {"refresh": "secret"},
            "data": {"password": "hunter2"},
            "query_string": "token=abc",
        },
        "user": {"id": "42", "email": "someone@example.com"},
        "extra": {"api_key": "k", "note": "mail someone@example.com with eyJa.eyJb.c"},
        "tags": {"request_id": "r1"},
    }
    scrubbed = scrub_event(event)
    text = repr(scrubbed)
    for secret in ("hunter2", "abc", "someone@example.com", "eyJa", "secret", "Bearer"):
        assert secret not in text
    assert scrubbed["user"] == {"id": "42"}
    assert scrubbed["tags"] == {"request_id": "r1"}
    assert scrubbed["request"]["headers"] == {"X-Request-ID": "r1"}
    assert scrubbed["request"]["url"] == "https://site/api/x"


def test_the_release_names_the_template_version_and_the_commit(monkeypatch) -> None:
    monkeypatch.delenv("TEMPLATE_VERSION", raising=False)
    monkeypatch.delenv("DEPLOY_COMMIT", raising=False)
    assert release_name("backend") is None
    monkeypatch.setenv("TEMPLATE_VERSION", "0.2.0")
    assert release_name("backend") == "0.2.0"
    monkeypatch.setenv("DEPLOY_COMMIT", "0123456789abcdef0123")
    assert release_name("backend") == "0.2.0+0123456789ab"


def test_no_dsn_starts_no_reporting() -> None:
    assert observability.init_sentry("  ", "backend", "local") is False
    observability.report_message("nothing to send", "error", {})  # no SDK: a no-op
