import shutil
from pathlib import Path

from fastapi.testclient import TestClient

from tests.conftest import AUTH


def test_liveness_is_public(client: TestClient) -> None:
    response = client.get("/storage/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readiness_needs_the_internal_token(client: TestClient) -> None:
    assert client.get("/storage/health/ready").status_code == 401
    assert client.get("/storage/health/ready", headers=AUTH).json() == {"status": "ok"}


def test_readiness_fails_with_a_message_when_the_volume_is_gone(
    client: TestClient, volume: Path
) -> None:
    shutil.rmtree(volume)
    response = client.get("/storage/health/ready", headers=AUTH)
    assert response.status_code == 503
    assert "not writable" in response.json()["detail"]
