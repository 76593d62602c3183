"""An in-process stand-in for the storage service's internal API (docs/CONTRACTS.md).

A test double for the backend's own unit suite only: the real storage service is exercised
end to end by the template's stack tests. It keeps files in memory and can be told to be
down, full, or to answer badly.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Awaitable, Callable

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


class FakeStorage:
    def __init__(self, *, token: str, max_bytes: int):
        self.token, self.max_bytes = token, max_bytes
        self.files: dict[str, bytes] = {}
        self.blocked_owners: set[str] = set()
        self.down = False
        self.answer: Response | None = None  # a canned answer to uploads, e.g. a 507
        self.report: Callable[[dict], dict] = lambda stored: stored  # alters the 201 body
        self.on_first_chunk: Callable[[], Awaitable[None]] | None = None
        self.chunks_received = 0
        self.app = Starlette(
            routes=[
                Route("/storage/upload", self._upload, methods=["POST"]),
                Route("/storage/files/{name}", self._delete, methods=["DELETE"]),
                Route("/storage/health/ready", self._ready, methods=["GET"]),
                Route("/storage/owners/{owner}/blocked", self._block, methods=["PUT", "DELETE"]),
            ]
        )

    def transport(self) -> httpx.AsyncBaseTransport:
        return _Transport(self)

    def reset(self) -> None:
        self.files.clear()
        self.blocked_owners.clear()
        self.down, self.answer, self.on_first_chunk = False, None, None
        self.report = lambda stored: stored
        self.chunks_received = 0

    def _authorised(self, request: Request) -> bool:
        return request.headers.get("authorization") == f"Bearer {self.token}"

    async def _upload(self, request: Request) -> Response:
        if not self._authorised(request):
            return JSONResponse({"detail": "bad token"}, status_code=401)
        digest, body = hashlib.sha256(), bytearray()
        async for chunk in request.stream():
            if not chunk:
                continue
            self.chunks_received += 1
            if self.chunks_received == 1 and self.on_first_chunk:
                await self.on_first_chunk()
            body.extend(chunk)
            digest.update(chunk)
            if len(body) > self.max_bytes:
                return JSONResponse({"detail": "too large"}, status_code=413)
        if self.answer is not None:
            return self.answer
        extension = request.query_params["filename"].rpartition(".")[2].lower()
        name = secrets.token_hex(16) + (f".{extension}" if extension.isalnum() else "")
        self.files[name] = bytes(body)
        stored = {
            "name": name,
            "size": len(body),
            "sha256": digest.hexdigest(),
            "content_type": request.headers.get("content-type", "application/octet-stream"),
        }
        return JSONResponse(self.report(stored), status_code=201)

    async def _delete(self, request: Request) -> Response:
        if not self._authorised(request):
            return JSONResponse({"detail": "bad token"}, status_code=401)
        if self.files.pop(request.path_params["name"], None) is None:
            return JSONResponse({"detail": "no such file"}, status_code=404)
        return Response(status_code=204)

    async def _block(self, request: Request) -> Response:
        if not self._authorised(request):
            return JSONResponse({"detail": "bad token"}, status_code=401)
        owner = request.path_params["owner"]
        if request.method == "PUT":
            self.blocked_owners.add(owner)
        else:
            self.blocked_owners.discard(owner)
        return Response(status_code=204)

    async def _ready(self, _: Request) -> Response:
        return JSONResponse({"status": "ok"})


class _Transport(httpx.AsyncBaseTransport):
    def __init__(self, storage: FakeStorage):
        self.storage = storage
        self.inner = httpx.ASGITransport(app=storage.app)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.storage.down:
            raise httpx.ConnectError("connection refused (fake storage is down)", request=request)
        return await self.inner.handle_async_request(request)
