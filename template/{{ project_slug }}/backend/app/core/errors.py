"""One error shape for every failure: `{"detail": ...}`, never a traceback; a server-side failure
(5xx) also carries `request_id`."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from psycopg import OperationalError as PsycopgOperationalError
from psycopg_pool import PoolTimeout
from sqlalchemy.exc import OperationalError as SQLAlchemyOperationalError
from sqlalchemy.exc import TimeoutError as SQLAlchemyPoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.core.messages import problem_of, say
from app.core.observability import current_request_id

logger = logging.getLogger(__name__)


async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
    # FastAPI's default also echoes the submitted input (a password, for instance): keep
    # only where the problem is, what it is (a sentence in UI_LANGUAGE naming the field and the
    # fix) and its type.
    errors = [
        {"loc": list(error["loc"]), "msg": problem_of(error), "type": error["type"]}
        for error in exc.errors()
    ]
    return JSONResponse({"detail": errors}, status_code=422)


async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
    # The router's own answers (no such route, a method a route does not take) carry HTTP's English
    # reason phrase: put a sentence in the site's language in its place.
    detail = exc.detail
    if exc.status_code == 404 and detail == "Not Found":
        detail = say("route_not_found")
    elif exc.status_code == 405 and detail == "Method Not Allowed":
        detail = say("method_not_allowed", method=request.method)
    worded = StarletteHTTPException(exc.status_code, detail=detail, headers=exc.headers)
    return await http_exception_handler(request, worded)


async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    # SQLSTATE class 40 (transaction rollback): 40P01 deadlock, 40001 serialization failure.
    if str(getattr(getattr(exc, "orig", exc), "sqlstate", None) or "").startswith("40"):
        # A deadlock or serialization failure: the database is fine, another change won the race
        # (rolled back, nothing half-done). The routes take their locks in one order to avoid
        # these; if one still happens, "try again" is the truth, "unavailable" is not.
        logger.warning("concurrent change on %s %s: %r", request.method, request.url.path, exc)
        return JSONResponse({"detail": say("concurrent_change")}, status_code=409)
    logger.error("database unavailable on %s %s: %r", request.method, request.url.path, exc)
    return JSONResponse(_with_request_id(say("database_unavailable")), status_code=503)


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    logger.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    # Starlette answers this one outside every middleware: the id's header is added here.
    body = _with_request_id(say("internal_error"))
    return JSONResponse(body, status_code=500, headers={"X-Request-ID": body["request_id"] or ""})


def _with_request_id(detail: str) -> dict[str, str | None]:
    """A failure's answer names the request, so "error 7f3a…" leads to its log lines and report."""
    return {"detail": detail, "request_id": current_request_id()}


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    for unavailable in (
        PsycopgOperationalError,
        PoolTimeout,
        SQLAlchemyOperationalError,
        SQLAlchemyPoolTimeout,
    ):
        app.add_exception_handler(unavailable, _database_unavailable)
    app.add_exception_handler(Exception, _unexpected_error)
