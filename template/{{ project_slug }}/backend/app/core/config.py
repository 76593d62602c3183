"""Settings read from the environment (the deployment's settings.env and .env), checked once."""

from __future__ import annotations

from email.utils import parseaddr
from functools import cached_property
from typing import Annotated, Literal

from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import URL

# Values that mean "nobody set this": refused outside ENVIRONMENT=local.
PLACEHOLDER_SECRETS = frozenset(
    {"", "changethis", "changeme", "change-me", "change_me", "secret", "password", "admin"}
)
# Shortest acceptable value of each secret (as documented in .env.example).
SECRET_MIN_LENGTHS = {
    "SECRET_KEY": 32,
    "STORAGE_TOKEN": 32,
    "POSTGRES_PASSWORD": 16,
    "FIRST_ADMIN_PASSWORD": 12,
}

# Settings whose default here would silently change a site (who may sign up, sizes, lifetimes):
# outside ENVIRONMENT=local each must come from settings.env, so a line lost in an edit or a
# resolved conflict stops the start with the line to add instead.
SITE_SETTINGS = {
    "REGISTRATION": "invite",
    "UI_LANGUAGE": "fr",
    "INVITATION_HOURS": "72",
    "RESET_LINK_MINUTES": "30",
    "USER_QUOTA_MB": "1024",
    "MAX_UPLOAD_MB": "50",
    "DOWNLOAD_LINK_MINUTES": "60",
}

PositiveInt = Annotated[int, Field(gt=0)]
MB = 1_000_000  # one unit everywhere: decimal megabytes, as disks and file managers count


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore", frozen=True)

    ENVIRONMENT: Literal["local", "staging", "production"] = "production"
    PROJECT_NAME: str = "Closo"
    DOMAIN: str = ""  # the site's name: a password may not be built on it

    POSTGRES_HOST: str = "db"
    POSTGRES_PORT: int = 5432
    POSTGRES_DB: str
    POSTGRES_USER: str
    POSTGRES_PASSWORD: str

    SECRET_KEY: str
    ACCESS_TOKEN_EXPIRE_MINUTES: PositiveInt = 15
    REFRESH_TOKEN_EXPIRE_DAYS: PositiveInt = 14
    FIRST_ADMIN_EMAIL: str
    FIRST_ADMIN_PASSWORD: str

    # Who may create an account: anyone (open), people an administrator invited (invite), or
    # only administrators (closed).
    REGISTRATION: Literal["open", "invite", "closed"] = "invite"
    # Language of what the backend writes for people (the first admin's name, the CLI's output).
    UI_LANGUAGE: Literal["fr", "en"] = "fr"
    # How long an invitation link and a password-reset link work.
    INVITATION_HOURS: Annotated[int, Field(ge=1, le=30 * 24)] = 72
    RESET_LINK_MINUTES: Annotated[int, Field(ge=1, le=24 * 60)] = 30

    # Sizes in decimal megabytes (1 MB = 1,000,000 bytes), as the interface and the docs count.
    USER_QUOTA_MB: PositiveInt = 1024
    MAX_UPLOAD_MB: PositiveInt = 50
    STORAGE_URL: str = "http://storage:8060"
    STORAGE_TOKEN: str
    # How long a download link works (see services/links.py). Links do not end with the session
    # that made them: short, so a link left in a shared computer's history soon stops working.
    DOWNLOAD_LINK_MINUTES: Annotated[int, Field(ge=1, le=24 * 60)] = 10
    ENABLE_DOCS: bool = False
    # The backup service's status file, read through a read-only mount of its state volume (the
    # admin page's backup line); empty or absent: this site has no backups configured.
    BACKUP_STATUS_FILE: str = ""

    # Outgoing mail (app/mail/): off while SMTP_HOST or MAIL_FROM is empty; then administrators
    # pass every link on themselves, as without mail.
    SMTP_HOST: str = ""
    SMTP_PORT: Annotated[int, Field(ge=1, le=65535)] = 587
    SMTP_SECURITY: Literal["starttls", "tls", "none"] = "starttls"
    SMTP_USER: str = ""
    SMTP_PASSWORD: str = ""
    MAIL_FROM: str = ""
    # A CA file the sender trusts beside the system's (a private relay's own certificate).
    SMTP_CA_FILE: str = ""
    # The site's address for links in mails; empty: https://DOMAIN (the runner sets its own).
    SITE_URL: str = ""

    @field_validator("MAIL_FROM", "SMTP_HOST", "SMTP_USER")
    @classmethod
    def _one_line(cls, value: str, info: ValidationInfo) -> str:
        if any(c in value for c in "\r\n\0"):
            raise ValueError("must be one line (a line break would start a new mail header)")
        if info.field_name == "MAIL_FROM" and value.strip() and "@" not in parseaddr(value)[1]:
            raise ValueError(
                f"{value!r} is not an address: write `site@example.com` or "
                "`Site name <site@example.com>`"
            )
        return value.strip()

    # Error reports to Sentry or GlitchTip (app/core/observability.py): off when empty.
    SENTRY_DSN: str = ""
    # GET /api/debug/error answers a real 500 (a test of the error path: id, logs, report). Only
    # with ENVIRONMENT=local; refused at start otherwise.
    ENABLE_ERROR_ROUTE: bool = False

    @model_validator(mode="after")
    def _refuse_weak_secrets(self) -> Settings:
        if self.ENVIRONMENT == "local":
            return self
        if self.ENABLE_ERROR_ROUTE:
            raise ValueError(
                "ENABLE_ERROR_ROUTE is for ENVIRONMENT=local only: set ENABLE_ERROR_ROUTE=false."
            )
        missing = [name for name in SITE_SETTINGS if name not in self.model_fields_set]
        if missing:
            lines = ", ".join(f"`{name}={SITE_SETTINGS[name]}`" for name in missing)
            raise ValueError(
                f"settings.env lacks {', '.join(missing)}: add {lines} (the template's values; "
                "`git checkout settings.env` or `copier update` restores the file), and put this "
                "site's own values in settings.site.env."
            )
        for name, min_length in SECRET_MIN_LENGTHS.items():
            value = getattr(self, name)
            if value.strip().lower() in PLACEHOLDER_SECRETS or len(value) < min_length:
                raise ValueError(
                    f"{name} is a placeholder or shorter than {min_length} characters: "
                    "generate one with "
                    '`python3 -c "import secrets; print(secrets.token_hex(32))"` '
                    "and put it in .env (only ENVIRONMENT=local accepts weak secrets)."
                )
        return self

    @cached_property
    def database_url(self) -> URL:
        return URL.create(
            "postgresql+psycopg",
            username=self.POSTGRES_USER,
            password=self.POSTGRES_PASSWORD,
            host=self.POSTGRES_HOST,
            port=self.POSTGRES_PORT,
            database=self.POSTGRES_DB,
        )

    @property
    def mail_enabled(self) -> bool:
        return bool(self.SMTP_HOST.strip() and self.MAIL_FROM.strip())

    @property
    def site_url(self) -> str:
        return (self.SITE_URL or f"https://{self.DOMAIN}").rstrip("/")

    @property
    def docs_enabled(self) -> bool:
        return self.ENVIRONMENT == "local" or self.ENABLE_DOCS

    @property
    def max_upload_bytes(self) -> int:
        return self.MAX_UPLOAD_MB * MB

    @property
    def user_quota_bytes(self) -> int:
        return self.USER_QUOTA_MB * MB


def load_settings() -> Settings:
    """Settings from the environment; a problem stops the process with one readable message."""
    try:
        return Settings()  # type: ignore[call-arg]  # fields come from the environment
    except ValidationError as exc:
        problems = "\n".join(
            f"  - {'.'.join(map(str, error['loc'])) or 'settings'}: "
            f"{error['msg'].removeprefix('Value error, ')}"
            for error in exc.errors()
        )
        raise SystemExit(
            f"The backend's settings (settings.env, .env) are not usable:\n{problems}"
        ) from None


settings = load_settings()
