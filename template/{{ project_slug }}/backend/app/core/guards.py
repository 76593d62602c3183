"""Two rules every API answer follows, applied before any route runs (a plain ASGI middleware).

- Cross-site requests that change state are refused (403). Browsers say where a request comes from
  in `Sec-Fetch-Site` (every current browser) or, failing that, `Origin`; a form another site
  auto-submits carries `cross-site`, or an `Origin` that is not this site. Requests without either
  header (curl, scripts, the tests) come from no browser page, so no other site can forge them.
- Nothing under /api/ is stored by a cache (`Cache-Control: no-store`): answers carry accounts,
  tokens and file links, and the next user of a shared computer must not find them.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.messages import say

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# `same-origin`: the app's own page; `none`: typed in the address bar, a bookmark.
ALLOWED_FETCH_SITES = frozenset({b"same-origin", b"none"})
NO_STORE = (b"cache-control", b"no-store")


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return value
    return None


def is_cross_site(scope: Scope) -> bool:
    """Whether a browser sent this request from a page of another origin."""
    fetch_site = _header(scope, b"sec-fetch-site")
    if fetch_site is not None:
        return fetch_site not in ALLOWED_FETCH_SITES
    origin = _header(scope, b"origin")
    if origin is None:
        return False
    host = _header(scope, b"host") or b""
    # The edge sends the canonical host (with the port when it is not 443) and the scheme.
    return origin != scope.get("scheme", "http").encode() + b"://" + host


class RequestGuardMiddleware:
    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] not in SAFE_METHODS and is_cross_site(scope):
            await _refuse(send)
            return

        async def send_no_store(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [item for item in message.get("headers", ()) if item[0] != NO_STORE[0]]
                message["headers"] = [*headers, NO_STORE]
            await send(message)

        await self.app(scope, receive, send_no_store)


async def _refuse(send: Send) -> None:
    body = json.dumps({"detail": say("cross_site_refused")}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 403,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                NO_STORE,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
