"""Password hashing (argon2id) and the signed tokens (JWT, HS256)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any, Literal

import anyio
import jwt
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from app.core.config import settings
from app.core.workers import MAX_WORKERS, running_workers, usable_cores

# OWASP's minimum for argon2id (19 MiB, 2 passes, 1 lane): safe on a small host.
password_hash = PasswordHash((Argon2Hasher(memory_cost=19456, time_cost=2, parallelism=1),))
# Each hash takes one core and 19 MiB: more at once than cores only queues them and grows
# memory. At most 4 (76 MiB) on the host, shared between the workers (app/core/workers.py): each
# takes its part, so N workers hash at most max(N, min(4, cores)) passwords at once.
HASHING_CONCURRENCY = max(1, min(MAX_WORKERS, usable_cores()) // running_workers())

ALGORITHM = "HS256"  # the only one accepted when decoding: no "none", no key confusion
# device: a browser that signed in to an account before (services/throttle.py).
TokenType = Literal["access", "refresh", "device"]


@cache
def _hashing_limiter() -> anyio.CapacityLimiter:
    return anyio.CapacityLimiter(HASHING_CONCURRENCY)


@cache
def _dummy_hash() -> str:
    return password_hash.hash(uuid.uuid4().hex)


async def hash_password(password: str) -> str:
    return await anyio.to_thread.run_sync(password_hash.hash, password, limiter=_hashing_limiter())


async def verify_password(password: str, hashed: str | None) -> tuple[bool, str | None]:
    """Check a password; returns (valid, new hash if the parameters changed since it was made).

    `hashed=None` (unknown e-mail) still spends the time of a real check, so a response time
    does not tell whether an account exists.
    """

    def check() -> tuple[bool, str | None]:
        if hashed is None:
            password_hash.verify(password, _dummy_hash())
            return False, None
        return password_hash.verify_and_update(password, hashed)

    return await anyio.to_thread.run_sync(check, limiter=_hashing_limiter())


def _encode(claims: dict[str, Any], lifetime: timedelta) -> tuple[str, datetime]:
    now = datetime.now(UTC)
    expires_at = now + lifetime
    payload = {**claims, "iat": now, "exp": expires_at}
    return jwt.encode(payload, settings.SECRET_KEY, algorithm=ALGORITHM), expires_at


def create_access_token(*, user_id: uuid.UUID, session_id: uuid.UUID) -> str:
    claims = {"sub": str(user_id), "type": "access", "sid": str(session_id)}
    token, _ = _encode(claims, timedelta(minutes=settings.ACCESS_TOKEN_EXPIRE_MINUTES))
    return token


def create_refresh_token(
    *, user_id: uuid.UUID, token_id: uuid.UUID, family_id: uuid.UUID
) -> tuple[str, datetime]:
    claims = {"sub": str(user_id), "type": "refresh", "jti": str(token_id), "sid": str(family_id)}
    return _encode(claims, timedelta(days=settings.REFRESH_TOKEN_EXPIRE_DAYS))


def create_device_token(*, user_id: uuid.UUID, lifetime: timedelta) -> str:
    claims = {"sub": str(user_id), "type": "device", "sid": str(uuid.uuid4())}
    token, _ = _encode(claims, lifetime)
    return token


def decode_token(token: str, *, expected_type: TokenType) -> dict[str, Any]:
    """Return the claims of a valid token of that type; raise jwt.InvalidTokenError otherwise."""
    claims = jwt.decode(
        token,
        settings.SECRET_KEY,
        algorithms=[ALGORITHM],
        options={"require": ["exp", "iat", "sub", "type", "sid"]},
    )
    if claims["type"] != expected_type:
        raise jwt.InvalidTokenError(f"expected a {expected_type} token")
    try:
        claims["sub"], claims["sid"] = uuid.UUID(claims["sub"]), uuid.UUID(claims["sid"])
        if expected_type == "refresh":
            claims["jti"] = uuid.UUID(claims["jti"])
    except (KeyError, ValueError, TypeError, AttributeError) as exc:
        raise jwt.InvalidTokenError("malformed identifiers") from exc
    return claims
