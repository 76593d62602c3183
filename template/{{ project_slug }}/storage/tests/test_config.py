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
    assert loaded.max_upload_bytes == 3_000_000  # decimal megabytes, as the backend counts
    assert loaded.STORAGE_ACCEL_REDIRECT is True
    assert "x" * 40 not in repr(loaded)  # the token never shows up in logs or tracebacks


@pytest.mark.parametrize("limit", [0, -1, 102401])
def test_upload_limit_out_of_range_is_refused(limit: int) -> None:
    with pytest.raises(ValidationError, match="MAX_UPLOAD_MB"):
        settings(STORAGE_TOKEN="y" * 40, MAX_UPLOAD_MB=limit)


S3_VALUES = {
    "STORAGE_TOKEN": "y" * 40,
    "STORAGE_BACKEND": "s3",
    "STORAGE_ACCEL_REDIRECT": True,
    "S3_ENDPOINT": "https://s3.fr-par.scw.cloud",
    "S3_BUCKET": "closo-files",
    "S3_ACCESS_KEY_ID": "SCWXXXXXXXXXXXXXXXXX",
    "S3_SECRET_ACCESS_KEY": "s" * 36,
}


@pytest.mark.parametrize(
    "endpoint", ["https://s3.fr-par.scw.cloud", "http://127.0.0.1:8333", "http://[::1]:9000"]
)
def test_s3_settings_accept_an_origin(endpoint: str) -> None:
    assert settings(**{**S3_VALUES, "S3_ENDPOINT": endpoint}).STORAGE_BACKEND == "s3"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"S3_ENDPOINT": ""}, "S3_ENDPOINT='' is not an origin"),
        ({"S3_ENDPOINT": "s3.example.com"}, "is not an origin"),
        ({"S3_ENDPOINT": "https://s3.example.com/bucket"}, "no path"),
        ({"S3_BUCKET": "Closo_Files"}, "S3_BUCKET='Closo_Files' is not a bucket name"),
        ({"S3_ACCESS_KEY_ID": ""}, "S3_ACCESS_KEY_ID is empty: set it in .env"),
        ({"S3_SECRET_ACCESS_KEY": " "}, "S3_SECRET_ACCESS_KEY is empty"),
        ({"STORAGE_ACCEL_REDIRECT": False}, "STORAGE_ACCEL_REDIRECT must be true"),
    ],
)
def test_s3_settings_are_checked_with_clear_messages(override: dict, message: str) -> None:
    with pytest.raises(ValidationError, match="STORAGE_BACKEND=s3") as error:
        settings(**{**S3_VALUES, **override})
    assert message in str(error.value)


def test_s3_secrets_never_show_up_in_logs() -> None:
    loaded = settings(**S3_VALUES)
    assert "s" * 36 not in repr(loaded) and "SCWXXXXXXXXXXXXXXXXX" not in repr(loaded)


def test_the_local_backend_needs_no_s3_setting() -> None:
    assert settings(STORAGE_TOKEN="y" * 40).STORAGE_BACKEND == "local"
