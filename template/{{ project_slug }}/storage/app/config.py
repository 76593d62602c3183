"""Settings of the storage service: the environment, then the deployment root's env files."""

import logging
from pathlib import Path

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

logger = logging.getLogger(__name__)

MIN_TOKEN_LENGTH = 32
PLACEHOLDER_TOKENS = {"changethis", "change-me", "changeme", "secret", "token", "storage-token"}


class Settings(BaseSettings):
    # The service runs from <slug>/storage; the deployment's env files sit two folders up. Real
    # environment variables (docker compose, the native runner) win over the file.
    model_config = SettingsConfigDict(env_file=("../../settings.env", "../../.env"), extra="ignore")

    ENVIRONMENT: str = "production"
    STORAGE_TOKEN: SecretStr = SecretStr("")
    STORAGE_DIR: Path = Path("/data")
    # true when nginx sits in front and serves downloads itself (X-Accel-Redirect).
    STORAGE_ACCEL_REDIRECT: bool = False
    MAX_UPLOAD_MB: int = Field(default=50, ge=1, le=102400)

    @property
    def max_upload_bytes(self) -> int:
        return self.MAX_UPLOAD_MB * 1024 * 1024

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
