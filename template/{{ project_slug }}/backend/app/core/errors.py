"""One error shape for every failure: `{"detail": ...}`, never a traceback."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from psycopg import OperationalError as PsycopgOperationalError
from psycopg_pool import PoolTimeout
from sqlalchemy.exc import OperationalError as SQLAlchemyOperationalError
from sqlalchemy.exc import TimeoutError as SQLAlchemyPoolTimeout

from app.core.messages import problem_of, say

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


async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    logger.error("database unavailable on %s %s: %r", request.method, request.url.path, exc)
    return JSONResponse({"detail": say("database_unavailable")}, status_code=503)


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    logger.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse({"detail": say("internal_error")}, status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    for unavailable in (
        PsycopgOperationalError,
        PoolTimeout,
        SQLAlchemyOperationalError,
        SQLAlchemyPoolTimeout,
    ):
        app.add_exception_handler(unavailable, _database_unavailable)
    app.add_exception_handler(Exception, _unexpected_error)
