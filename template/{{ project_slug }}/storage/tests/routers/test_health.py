import shutil
from pathlib import Path

from fastapi.testclient import TestClient

from app.main import create_app
from tests.conftest import AUTH, Backend, make_settings, signed


def test_liveness_is_public(client: TestClient) -> None:
    response = client.get("/storage/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readiness_needs_the_internal_token(client: TestClient) -> None:
    assert client.get("/storage/health/ready").status_code == 401
    assert client.get("/storage/health/ready", headers=AUTH).json() == {"status": "ok"}


def test_readiness_fails_with_a_message_when_the_volume_is_gone(
    local_client: TestClient, volume: Path
) -> None:
    shutil.rmtree(volume)
    response = local_client.get("/storage/health/ready", headers=AUTH)
    assert response.status_code == 503
    assert "not writable" in response.json()["detail"]


def test_readiness_fails_with_a_message_when_the_bucket_is_missing(
    bucket: str, volume: Path
) -> None:
    backend = Backend("s3", volume, bucket)
    settings = backend.settings(S3_BUCKET=f"{bucket}-missing")
    with TestClient(create_app(settings)) as client:
        response = client.get("/storage/health/ready", headers=AUTH)
    assert response.status_code == 503
    assert response.json()["detail"].startswith("The bucket cannot be used (the object store")
    assert "S3_BUCKET" in response.json()["detail"]


def test_an_unreachable_store_is_a_503_not_a_crash(volume: Path) -> None:
    settings = make_settings(
        volume,
        STORAGE_BACKEND="s3",
        STORAGE_ACCEL_REDIRECT=True,
        S3_ENDPOINT="http://127.0.0.1:9",  # discard port: nothing listens
        S3_BUCKET="nowhere",
        S3_ACCESS_KEY_ID="id",
        S3_SECRET_ACCESS_KEY="secret",
    )
    with TestClient(create_app(settings)) as client:
        ready = client.get("/storage/health/ready", headers=AUTH)
        download = client.get(signed(f"/storage/files/{'a' * 32}.png"))
        stored = client.post("/storage/upload", content=b"data", headers=AUTH)
    assert ready.status_code == 503
    assert download.status_code == 503
    assert download.json()["detail"].startswith("The object store is unavailable")
    assert stored.status_code == 503
    assert stored.json()["detail"].startswith("The object store could not be written")
