import pytest
from pydantic import ValidationError

from app.core.config import SITE_SETTINGS, Settings, load_settings

STRONG = {
    "POSTGRES_DB": "app",
    "POSTGRES_USER": "app",
    "POSTGRES_PASSWORD": "p" * 32,
    "SECRET_KEY": "s" * 64,
    "FIRST_ADMIN_EMAIL": "admin@example.com",
    "FIRST_ADMIN_PASSWORD": "a" * 32,
    "STORAGE_TOKEN": "t" * 64,
    **SITE_SETTINGS,
}


def test_production_accepts_strong_secrets() -> None:
    settings = Settings(**{**STRONG, "ENVIRONMENT": "production"})
    assert settings.docs_enabled is False
    assert settings.database_url.drivername == "postgresql+psycopg"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SECRET_KEY", "changethis"),
        ("SECRET_KEY", "x" * 31),
        ("STORAGE_TOKEN", ""),
        ("POSTGRES_PASSWORD", "password"),
        ("FIRST_ADMIN_PASSWORD", "short"),
    ],
)
def test_production_refuses_placeholder_or_short_secrets(name: str, value: str) -> None:
    with pytest.raises(ValidationError) as error:
        Settings(**{**STRONG, "ENVIRONMENT": "production", name: value})
    assert name in str(error.value)
    assert "secrets.token_hex" in str(error.value)  # the message says how to fix it


def test_local_accepts_weak_secrets_and_shows_the_docs() -> None:
    settings = Settings(**{**STRONG, "ENVIRONMENT": "local", "SECRET_KEY": "dev"})
    assert settings.docs_enabled is True


def test_docs_can_be_enabled_in_production() -> None:
    settings = Settings(**{**STRONG, "ENVIRONMENT": "production", "ENABLE_DOCS": True})
    assert settings.docs_enabled is True


def test_unusable_settings_stop_the_process_with_one_readable_message(monkeypatch) -> None:
    for name, value in {**STRONG, "ENVIRONMENT": "production", "SECRET_KEY": "changethis"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("POSTGRES_DB")
    with pytest.raises(SystemExit) as stop:
        load_settings()
    message = str(stop.value)
    assert message.startswith("The backend's settings (settings.env, .env) are not usable:")
    assert "POSTGRES_DB: Field required" in message
    assert "Traceback" not in message


def test_production_names_the_settings_env_line_a_site_lost(monkeypatch) -> None:
    """A conflict resolved as "keep mine" or a hand edit dropped REGISTRATION: the default here
    (invite) would close an open site without a word, so the start stops with the line to add."""
    for name, value in {**STRONG, "ENVIRONMENT": "production"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("REGISTRATION")
    with pytest.raises(SystemExit) as stop:
        load_settings()
    message = str(stop.value)
    assert "settings.env lacks REGISTRATION: add `REGISTRATION=invite`" in message
    assert "settings.site.env" in message and "Traceback" not in message
