"""Download links: signed for the file's owner, checked by the storage service (its app/links.py).

`/storage/files/<stored name>?owner=<id>&expires=<unix time>&signature=<mac>`, the MAC keyed by
a key derived from STORAGE_TOKEN, which both services hold. Expiry times are rounded up to the
minute, so a page that lists files twice in a minute gets the same links (the browser's cache
still serves a file it just downloaded).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import time
import uuid
from datetime import UTC, datetime
from functools import cache
from urllib.parse import urlencode

from app.core.config import settings


@cache
def _key() -> bytes:
    token = settings.STORAGE_TOKEN.encode()
    return hmac.new(token, b"closo download links v1", hashlib.sha256).digest()


def link_expiry(now: float | None = None) -> int:
    """When a link made now expires: DOWNLOAD_LINK_MINUTES from now, rounded up to the minute."""
    now = time.time() if now is None else now
    return math.ceil((now + settings.DOWNLOAD_LINK_MINUTES * 60) / 60) * 60


def download_url(*, stored_name: str, owner_id: uuid.UUID, expires: int) -> str:
    owner = str(owner_id)
    message = f"{stored_name}\n{owner}\n{expires}".encode()
    mac = base64.urlsafe_b64encode(hmac.new(_key(), message, hashlib.sha256).digest())
    query = urlencode({"owner": owner, "expires": expires, "signature": mac.rstrip(b"=").decode()})
    return f"/storage/files/{stored_name}?{query}"


def expiry_time(expires: int) -> datetime:
    return datetime.fromtimestamp(expires, UTC)
