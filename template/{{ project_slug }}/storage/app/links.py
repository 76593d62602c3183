"""Download links: `/storage/files/<name>?owner=<id>&expires=<unix time>&signature=<mac>`.

The backend makes them for the file's owner (it holds the same STORAGE_TOKEN); this service checks
them before it answers. A link is a short-lived capability: it stops working when it expires,
when the file is deleted, and when the owner's account is deactivated (the backend then blocks
the owner here, see routers/files.py).
"""

import base64
import hashlib
import hmac
import re
import time

_OWNER = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def signing_key(storage_token: str) -> bytes:
    """A key of its own for links, derived from the shared token (no new secret to deploy)."""
    return hmac.new(storage_token.encode(), b"closo download links v1", hashlib.sha256).digest()


def signature(key: bytes, *, name: str, owner: str, expires: int) -> str:
    mac = hmac.new(key, f"{name}\n{owner}\n{expires}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def is_owner_id(value: str) -> bool:
    return bool(_OWNER.fullmatch(value))


class LinkRefused(Exception):  # noqa: N818 - a refusal, with why (a key of app/messages)
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


INVALID, EXPIRED = "link_invalid", "link_expired"


def check(
    key: bytes, *, name: str, owner: str | None, expires: str | None, signed: str | None
) -> tuple[str, int]:
    """The owner and the seconds the link has left; LinkRefused when it is not a valid link."""
    if not (owner and expires and signed and expires.isdigit() and is_owner_id(owner)):
        raise LinkRefused(INVALID)
    expected = signature(key, name=name, owner=owner, expires=int(expires))
    if not hmac.compare_digest(expected.encode(), signed.encode()):
        raise LinkRefused(INVALID)
    remaining = int(expires) - int(time.time())
    if remaining <= 0:
        raise LinkRefused(EXPIRED)
    return owner, remaining
