"""Settings of the storage service: the environment, then the deployment root's env files."""

import logging
import re
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

logger = logging.getLogger(__name__)

MIN_TOKEN_LENGTH = 32
PLACEHOLDER_TOKENS = {"changethis", "change-me", "changeme", "secret", "token", "storage-token"}
# scheme://host[:port] and nothing else: nginx proxies to this origin (see docs/CONTRACTS.md).
S3_ORIGIN = re.compile(
    r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?|https?://\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?"
)
MB = 1_000_000  # sizes in decimal megabytes, as the backend, the interface and settings.env count
# S3's rules for bucket names (3-63 characters, lowercase letters, digits, dots, hyphens).
S3_BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


class Settings(BaseSettings):
    # The service runs from <slug>/storage; the deployment's env files sit two folders up. Real
    # environment variables (docker compose, the native runner) win over the file.
    model_config = SettingsConfigDict(env_file=("../../settings.env", "../../.env"), extra="ignore")

    ENVIRONMENT: str = "production"
    STORAGE_TOKEN: SecretStr = SecretStr("")
    STORAGE_DIR: Path = Path("/data")
    # true when nginx sits in front and serves downloads itself (X-Accel-Redirect).
    STORAGE_ACCEL_REDIRECT: bool = False
    # The largest file, in decimal megabytes: the backend's limit too, so a file it accepts fits.
    MAX_UPLOAD_MB: int = Field(default=50, ge=1, le=102400)
    # Language of the answers people can meet (a download link that expired): fr or en.
    UI_LANGUAGE: Literal["fr", "en"] = "fr"
    # Where files live: `local` (STORAGE_DIR, a volume) or `s3` (a bucket of an S3-compatible store)
    STORAGE_BACKEND: Literal["local", "s3"] = "local"
    S3_ENDPOINT: str = ""
    S3_REGION: str = "us-east-1"
    S3_BUCKET: str = ""
    S3_ACCESS_KEY_ID: SecretStr = SecretStr("")
    S3_SECRET_ACCESS_KEY: SecretStr = SecretStr("")
    # How long a download's presigned URL stays valid: nginx uses it at once, so a minute is plenty.
    S3_PRESIGN_SECONDS: int = Field(default=60, ge=5, le=3600)
    # Error reports to Sentry or GlitchTip (app/observability.py): off when empty.
    SENTRY_DSN: str = ""

    @property
    def max_upload_bytes(self) -> int:
        return self.MAX_UPLOAD_MB * MB

    @property
    def is_local(self) -> bool:
        return self.ENVIRONMENT == "local"

    @model_validator(mode="after")
    def _refuse_weak_token(self) -> "Settings":
        token = self.STORAGE_TOKEN.get_secret_value()
        fix = "set a random value, e.g. python3 -c 'import secrets; print(secrets.token_hex(32))'"
        if not token.strip():
            # Even locally: an empty token would let an empty Authorization header through.
            raise ValueError(f"STORAGE_TOKEN is empty: {fix}")
        weak = token.lower() in PLACEHOLDER_TOKENS or len(token) < MIN_TOKEN_LENGTH
        if weak and not self.is_local:
            raise ValueError(
                f"STORAGE_TOKEN is a placeholder or shorter than {MIN_TOKEN_LENGTH} characters, "
                f"which is refused when ENVIRONMENT={self.ENVIRONMENT}: {fix}"
            )
        if weak:
            logger.warning("STORAGE_TOKEN is weak; accepted only because ENVIRONMENT=local")
        return self

    @model_validator(mode="after")
    def _check_s3(self) -> "Settings":
        if self.STORAGE_BACKEND != "s3":
            return self
        problems = []
        if not S3_ORIGIN.fullmatch(self.S3_ENDPOINT):
            problems.append(
                f"S3_ENDPOINT={self.S3_ENDPOINT!r} is not an origin such as "
                "https://s3.fr-par.scw.cloud (scheme and host, optional port, no path)"
            )
        if not S3_BUCKET_NAME.fullmatch(self.S3_BUCKET):
            problems.append(
                f"S3_BUCKET={self.S3_BUCKET!r} is not a bucket name (3-63 lowercase letters, "
                "digits, dots, hyphens)"
            )
        for name in ("S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY"):
            if not getattr(self, name).get_secret_value().strip():
                problems.append(f"{name} is empty: set it in .env (see .env.example)")
        if not self.STORAGE_ACCEL_REDIRECT:
            # Downloads never pass through this process with S3: nginx fetches them from the store.
            problems.append("STORAGE_ACCEL_REDIRECT must be true (nginx serves the downloads)")
        if problems:
            raise ValueError("STORAGE_BACKEND=s3: " + "; ".join(problems) + ".")
        return self
