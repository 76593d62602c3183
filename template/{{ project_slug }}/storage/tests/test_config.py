import pytest
from pydantic import ValidationError

from app.config import Settings


def settings(**values: object) -> Settings:
    return Settings(_env_file=None, STORAGE_DIR="/srv/volume", **values)


@pytest.mark.parametrize("token", ["", "   ", "changethis", "short-token"])
def test_weak_token_is_refused_in_production(token: str) -> None:
    with pytest.raises(ValidationError, match="STORAGE_TOKEN"):
        settings(ENVIRONMENT="production", STORAGE_TOKEN=token)


def test_placeholder_token_is_accepted_locally_but_an_empty_one_is_not() -> None:
    assert settings(ENVIRONMENT="local", STORAGE_TOKEN="changethis").is_local
    with pytest.raises(ValidationError, match="STORAGE_TOKEN is empty"):
        settings(ENVIRONMENT="local", STORAGE_TOKEN="")


def test_values_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STORAGE_TOKEN", "x" * 40)
    monkeypatch.setenv("MAX_UPLOAD_MB", "3")
    monkeypatch.setenv("STORAGE_ACCEL_REDIRECT", "true")
    loaded = Settings(_env_file=None)
    assert loaded.max_upload_bytes == 3 * 1024 * 1024
    assert loaded.STORAGE_ACCEL_REDIRECT is True
    assert "x" * 40 not in repr(loaded)  # the token never shows up in logs or tracebacks


@pytest.mark.parametrize("limit", [0, -1, 102401])
def test_upload_limit_out_of_range_is_refused(limit: int) -> None:
    with pytest.raises(ValidationError, match="MAX_UPLOAD_MB"):
        settings(STORAGE_TOKEN="y" * 40, MAX_UPLOAD_MB=limit)
