"""Client of the storage service's internal API (uploads, deletes, readiness)."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import AsyncIterable
from dataclasses import dataclass

import httpx

from app.core.messages import say
from app.core.observability import current_request_id

logger = logging.getLogger(__name__)

# Names the storage service generates: 32 hex characters and an optional extension.
STORED_NAME = re.compile(r"^[0-9a-f]{32}(\.[a-z0-9]{1,10})?$")


class StorageError(Exception):
    """The storage service could not do what was asked; `status_code`/`detail` go to the client."""

    status_code = 503
    message = "storage_unavailable"  # a key of core/messages

    @property
    def detail(self) -> str:
        return say(self.message)


class StorageRejectedSizeError(StorageError):
    status_code = 413


class StorageFullError(StorageError):
    status_code = 507
    message = "storage_full"


class StorageBadAnswerError(StorageError):
    status_code = 502
    message = "storage_bad_answer"


@dataclass(frozen=True)
class StoredFile:
    name: str
    size: int
    sha256: str
    content_type: str


async def _pass_request_id(request: httpx.Request) -> None:
    """Storage's log lines about this call carry the id of the request that made it."""
    request_id = current_request_id()
    if request_id:
        request.headers["X-Request-ID"] = request_id


class StorageClient:
    def __init__(
        self, *, base_url: str, token: str, transport: httpx.AsyncBaseTransport | None = None
    ):
        self._http = httpx.AsyncClient(
            base_url=base_url,
            headers={"Authorization": f"Bearer {token}"},
            # Generous read/write timeouts: a large upload's last chunk may wait for an fsync.
            timeout=httpx.Timeout(connect=5.0, read=120.0, write=120.0, pool=10.0),
            transport=transport,
            event_hooks={"request": [_pass_request_id]},
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def upload(
        self, *, filename: str, content_type: str, body: AsyncIterable[bytes]
    ) -> StoredFile:
        try:
            response = await self._http.post(
                "/storage/upload",
                params={"filename": filename},
                headers={"Content-Type": content_type},
                content=body,
            )
        except httpx.TransportError as exc:
            logger.warning("storage upload failed: %r", exc)
            raise StorageError from exc
        if response.status_code == 413:
            raise StorageRejectedSizeError
        if response.status_code == 507:
            raise StorageFullError
        if response.status_code != 201:
            logger.error(
                "storage upload answered %s: %s", response.status_code, response.text[:200]
            )
            raise StorageBadAnswerError
        try:
            data = response.json()
            stored = StoredFile(
                name=str(data["name"]),
                size=int(data["size"]),
                sha256=str(data["sha256"]),
                content_type=str(data.get("content_type") or content_type),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise StorageBadAnswerError from exc
        if not STORED_NAME.match(stored.name):
            raise StorageBadAnswerError
        return stored

    async def delete(self, name: str) -> None:
        """Delete a stored file; one that is already gone counts as deleted."""
        try:
            response = await self._http.delete(f"/storage/files/{name}")
        except httpx.TransportError as exc:
            logger.warning("storage delete of %s failed: %r", name, exc)
            raise StorageError from exc
        if response.status_code not in (204, 404):
            logger.error("storage delete of %s answered %s", name, response.status_code)
            raise StorageBadAnswerError

    async def set_owner_blocked(self, owner_id: uuid.UUID, *, blocked: bool) -> None:
        """Make storage refuse (or accept again) every download link of this owner."""
        method = "PUT" if blocked else "DELETE"
        try:
            response = await self._http.request(method, f"/storage/owners/{owner_id}/blocked")
        except httpx.TransportError as exc:
            logger.warning("storage %s of owner %s's links failed: %r", method, owner_id, exc)
            raise StorageError from exc
        if response.status_code != 204:
            logger.error("storage blocking of %s answered %s", owner_id, response.status_code)
            raise StorageBadAnswerError

    async def is_ready(self) -> bool:
        try:
            response = await self._http.get("/storage/health/ready", timeout=3.0)
        except httpx.TransportError:
            return False
        return response.status_code == 200
