"""What a request leaves behind: its id, one JSON log line, metrics, and error reports.

The same file is the backend's `app/core/observability.py` and storage's `app/observability.py`
(tests/lint checks they are identical), so both services write one log shape
(docs/observability.md):

    {"ts", "level", "service", "request_id", "method", "route", "status", "duration_ms",
     "user_id", "message", ...named fields}

- The request id comes from the edge (`X-Request-ID`, which the edge makes or keeps from a trusted
  source); a request that reached the service directly gets one made here. Every log line written
  while the request runs carries it, and so does the answer.
- Metrics (prometheus-client) are labelled by route template (`/api/files/{file_id}`), never by
  raw path: one series per route, not per file. Under gunicorn's pre-forked workers they live in
  PROMETHEUS_MULTIPROC_DIR (gunicorn.conf.py), and /metrics sums them.
- Error reports go to Sentry (or GlitchTip) only when SENTRY_DSN is set; they carry the request
  id and the user's id, never an e-mail address, a password, a token or a cookie.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID_HEADER = b"x-request-id"
# What an id from the edge may look like (nginx's $request_id is 32 hex digits): anything else is
# replaced, so a log line never holds a client's text in this field.
VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{8,64}")
UNMATCHED_ROUTE = "(unmatched)"  # a path no route takes: one series, whatever was asked


@dataclass
class RequestContext:
    """One request's facts, shared by every log line and report written while it runs. Mutable:
    a dependency that learns the user (in a task or thread of its own) fills it in for all."""

    request_id: str
    user_id: str | None = None


_current: ContextVar[RequestContext | None] = ContextVar("request_context", default=None)
_service = "app"


def current_request_id() -> str | None:
    context = _current.get()
    return context.request_id if context else None


def note_user(user_id: object) -> None:
    """The request's user, by id only (never an e-mail address): logs and reports say who."""
    context = _current.get()
    if context is not None:
        context.user_id = str(user_id)
    if _sentry_enabled:
        import sentry_sdk

        sentry_sdk.set_user({"id": str(user_id)})


# --- Logs -----------------------------------------------------------------------------------


_plain_record = logging.getLogRecordFactory()


def _record_with_request(*args: Any, **kwargs: Any) -> logging.LogRecord:
    """Every record notes its request when made (a handler may format it later, elsewhere)."""
    record = _plain_record(*args, **kwargs)
    record.request_context = _current.get()
    return record


logging.setLogRecordFactory(_record_with_request)


# One encoder for every line: json.dumps with arguments builds a new one per call.
_encode_json = json.JSONEncoder(ensure_ascii=False, default=str).encode


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        context = getattr(record, "request_context", None)
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": _service,
            "request_id": context.request_id if context else None,
            "user_id": context.user_id if context else None,
            "logger": record.name,
            "message": record.getMessage(),
            **getattr(record, "fields", {}),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return _encode_json(entry)


def configure_logging(service: str, level: int = logging.INFO) -> None:
    global _service
    _service = service
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # A line names none of these, which the logging module would otherwise look up for every
    # record (the caller's frame, the thread, the process: a system call): a few µs of every
    # request's access line (the logging HOWTO's "Optimization").
    logging._srcfile = None  # type: ignore[attr-defined]
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    for name in ("uvicorn", "uvicorn.error", "gunicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # Replaced by the middleware's line (uvicorn's has no duration, no id, and the query string,
    # which may hold a download link or personal data).
    logging.getLogger("uvicorn.access").disabled = True
    # httpx logs every call to storage with its query string (the user's file name).
    logging.getLogger("httpx").setLevel(logging.WARNING)


access_logger = logging.getLogger("app.access")

# --- Metrics --------------------------------------------------------------------------------

REQUESTS = Counter(
    "http_requests_total", "Requests answered", ["service", "method", "route", "status"]
)
LATENCY = Histogram(
    "http_request_duration_seconds",
    "Time to answer, by route template",
    ["service", "method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
IN_FLIGHT = Gauge(
    "http_requests_in_flight",
    "Requests being answered",
    ["service", "method", "route"],
    multiprocess_mode="livesum",
)
POOL_CONNECTIONS = Gauge(
    "db_pool_connections",
    "Database connections of each pool, in use or idle",
    ["pool", "state"],
    multiprocess_mode="livesum",
)


def metrics_text() -> bytes:
    """The exposition: every worker's figures summed when they share PROMETHEUS_MULTIPROC_DIR."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest()


async def _answer_metrics(send: Send) -> None:
    body = metrics_text()
    headers = [(b"content-type", CONTENT_TYPE_LATEST.encode()), (b"cache-control", b"no-store")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _route_of(scope: Scope) -> str:
    """The template of the route that answered (`/api/files/{file_id}`). FastAPI includes routers
    lazily: the route's own path lacks the prefixes it was included under, which the request's
    effective route context (scope["fastapi"]) has in full."""
    fastapi_scope = scope.get("fastapi")
    if isinstance(fastapi_scope, dict):
        effective = fastapi_scope.get("effective_route_context")
        if getattr(effective, "path_format", None):
            return effective.path_format  # type: ignore[union-attr]
    route = scope.get("route")
    return getattr(route, "path_format", None) or getattr(route, "path", None) or UNMATCHED_ROUTE


def _request_id_of(scope: Scope) -> str:
    for key, value in scope["headers"]:
        if key == REQUEST_ID_HEADER:
            text = value.decode("latin-1")
            if VALID_REQUEST_ID.fullmatch(text):
                return text
            break
    return uuid.uuid4().hex


class ObservabilityMiddleware:
    """The outermost layer of a service: the request id (read or made, answered back), one access
    line, the metrics, and GET /metrics itself (the service's own port only: the edge forwards
    only /api/ and /storage/ paths, and refuses these).

    A plain ASGI middleware: Starlette's BaseHTTPMiddleware would cost a task per request.
    `sample` is called after each request (the backend's database pools)."""

    def __init__(
        self, app: ASGIApp, service: str, sample: Callable[[], None] | None = None
    ) -> None:
        self.app, self.service, self.sample = app, service, sample
        # Each series' child, kept: Metric.labels() checks and locks on every call (a few µs, three
        # times a request). Routes, methods and statuses are few, so these stay small.
        self._in_flight: dict[str, Any] = {}
        self._counted: dict[tuple[str, str, int], Any] = {}
        self._timed: dict[tuple[str, str], Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] == "/metrics" and scope["method"] in ("GET", "HEAD"):
            await _answer_metrics(send)
            return
        context = RequestContext(request_id=_request_id_of(scope))
        _current.set(context)
        if _sentry_enabled:
            import sentry_sdk

            sentry_sdk.set_tag("request_id", context.request_id)
        id_header = (b"x-request-id", context.request_id.encode())
        started = time.perf_counter()
        status_code = 500  # if the app fails before answering, the server answers 500

        async def send_with_id(message: Message) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = message["status"]
                message["headers"] = [*message.get("headers", ()), id_header]
            await send(message)

        method = scope["method"]
        # The route is known only once the router ran: in-flight is counted by method until then.
        in_flight = self._in_flight.get(method)
        if in_flight is None:
            in_flight = self._in_flight[method] = IN_FLIGHT.labels(self.service, method, "(any)")
        in_flight.inc()
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            in_flight.dec()
            self._record(scope, context, status_code, time.perf_counter() - started)
        # The context is not reset: Starlette runs the handler of unexpected errors outside every
        # middleware, and its log line and 500 answer must still name the request. The server
        # runs each request in a task of its own, whose context ends with it.

    def _record(self, scope: Scope, context: RequestContext, status: int, seconds: float) -> None:
        route, method = _route_of(scope), scope["method"]
        counted = self._counted.get((method, route, status))
        if counted is None:
            counted = REQUESTS.labels(self.service, method, route, str(status))
            self._counted[method, route, status] = counted
        counted.inc()
        timed = self._timed.get((method, route))
        if timed is None:
            timed = self._timed[method, route] = LATENCY.labels(self.service, method, route)
        timed.observe(seconds)
        if self.sample is not None:
            self.sample()
        client = scope.get("client")
        access_logger.info(
            "request",
            extra={
                "fields": {
                    "method": method,
                    "route": route,
                    "path": scope["path"],  # never the query string: it may hold a capability
                    "status": status,
                    "duration_ms": round(seconds * 1000, 2),
                    "client": client[0] if client else None,
                }
            },
        )


# --- Error reports --------------------------------------------------------------------------

_sentry_enabled = False
# Keys whose values never leave the server, wherever they appear in a report.
SECRET_KEYS = re.compile(
    r"pass|secret|token|auth|cookie|session|csrf|email|e-mail|mail|key|signature|credential",
    re.IGNORECASE,
)
JWT = re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
FILTERED = "[Filtered]"


def _scrub(value: Any, depth: int = 0) -> Any:
    if depth > 20:
        return FILTERED
    if isinstance(value, dict):
        return {
            key: FILTERED
            if isinstance(key, str) and SECRET_KEYS.search(key) and key not in ("request_id",)
            else _scrub(item, depth + 1)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [_scrub(item, depth + 1) for item in value]
    if isinstance(value, str):
        return EMAIL.sub(FILTERED, JWT.sub(FILTERED, value))
    return value


def scrub_event(event: dict[str, Any], _hint: dict[str, Any] | None = None) -> dict[str, Any]:
    """sentry-sdk's before_send: a report keeps the stack, the request's method, route and id and
    the user's id; headers, cookies, bodies, query strings and local variables named like secrets
    go, and any JWT or e-mail address left in a text is replaced."""
    request = event.get("request")
    if isinstance(request, dict):
        for name in ("cookies", "data", "query_string", "env"):
            request.pop(name, None)
        headers = request.get("headers") or {}
        request["headers"] = {
            key: value
            for key, value in headers.items()
            if key.lower() in ("user-agent", "x-request-id", "content-type", "content-length")
        }
        if isinstance(request.get("url"), str):
            request["url"] = request["url"].split("?", 1)[0]
    user = event.get("user")
    if isinstance(user, dict):
        event["user"] = {"id": user["id"]} if "id" in user else {}
    return _scrub(event)


def release_name(service: str) -> str | None:
    """`<template version>+<deployment commit>` as the deploy wrote them into settings.env
    (TEMPLATE_VERSION) and the environment (DEPLOY_COMMIT), when known."""
    version = os.environ.get("TEMPLATE_VERSION", "").strip()
    commit = os.environ.get("DEPLOY_COMMIT", "").strip()
    if not (version or commit):
        return None
    return "+".join(part for part in (version or "unknown", commit[:12]) if part)


def init_sentry(dsn: str, service: str, environment: str) -> bool:
    """Start sentry-sdk when a DSN is set; nothing at all otherwise (no import, no thread)."""
    global _sentry_enabled
    if not dsn.strip():
        return False
    import sentry_sdk

    sentry_sdk.init(
        dsn=dsn.strip(),
        environment=environment,
        release=release_name(service),
        server_name=service,
        send_default_pii=False,
        include_local_variables=False,
        max_request_body_size="never",
        traces_sample_rate=0,
        before_send=scrub_event,
    )
    sentry_sdk.set_tag("service", service)
    _sentry_enabled = True
    return True


def report_message(message: str, level: str, extra: dict[str, Any]) -> None:
    """A message (the page's own errors, relayed by the backend) to Sentry, when enabled."""
    if not _sentry_enabled:
        return
    import sentry_sdk

    with sentry_sdk.new_scope() as scope:
        for key, value in extra.items():
            scope.set_extra(key, value)
        sentry_sdk.capture_message(message, level=level)  # type: ignore[arg-type]
