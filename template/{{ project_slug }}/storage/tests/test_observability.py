"""Request ids, metrics and the report scrubber (app/observability.py, the backend's same file)."""

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app import observability
from app.main import create_app
from app.observability import release_name, scrub_event
from tests.conftest import make_settings


@pytest.fixture
def local_client(tmp_path: Path):
    app = create_app(make_settings(tmp_path / "volume"))

    @app.get("/storage/_boom")
    async def boom() -> None:
        raise RuntimeError("secret internals")

    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def test_metrics_count_requests_by_route_template(local_client: TestClient) -> None:
    assert local_client.get("/storage/health").status_code == 200
    assert local_client.get("/storage/files/nothing-here").status_code == 404
    text = local_client.get("/metrics").text
    assert 'route="/storage/health"' in text and 'route="/storage/files/{name}"' in text
    assert "nothing-here" not in text


def test_a_500_names_its_request(local_client: TestClient) -> None:
    answer = local_client.get("/storage/_boom", headers={"X-Request-ID": "fedcba9876543210"})
    assert answer.status_code == 500
    assert answer.json()["request_id"] == "fedcba9876543210"
    assert answer.headers["x-request-id"] == "fedcba9876543210"
    assert "secret internals" not in answer.text


def test_a_report_keeps_ids_and_loses_secrets() -> None:
    event = {
        "request": {
            "url": "https://site/storage/files/a.pdf?signature=abc",
            "headers": {"Authorization": "Bearer t0k3n", "User-Agent": "ua"},
            "cookies": {"refresh": "c00kie"},
        },
        "user": {"email": "someone@example.com"},
        "extra": {"token": "t0k3n", "deep": [{"password": "hunter2"}]},
    }
    text = repr(scrub_event(event))
    for secret in ("abc", "t0k3n", "c00kie", "someone@example.com", "hunter2"):
        assert secret not in text


def test_the_release_and_an_empty_dsn(monkeypatch) -> None:
    monkeypatch.setenv("TEMPLATE_VERSION", "")
    monkeypatch.setenv("DEPLOY_COMMIT", "abcdef1234567890")
    assert release_name("storage") == "unknown+abcdef123456"
    assert observability.init_sentry("", "storage", "local") is False
    observability.report_message("nothing to send", "error", {})
