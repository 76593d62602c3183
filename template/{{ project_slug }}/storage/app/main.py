"""The storage service: internal writes for the backend, public reads served at nginx speed."""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from app import links
from app.config import Settings
from app.messages import say
from app.observability import (
    ObservabilityMiddleware,
    configure_logging,
    current_request_id,
    init_sentry,
)
from app.routers import files, health
from app.s3store import ObjectStoreError, S3Store
from app.store import FileStore

logger = logging.getLogger(__name__)


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    detail, request_id = say(request.app.state.settings, "unexpected_error"), current_request_id()
    # Starlette answers this one outside every middleware: the id's header is added here.
    headers = {"X-Request-ID": request_id or ""}
    return JSONResponse({"detail": detail, "request_id": request_id}, 500, headers=headers)


async def _object_store_error(request: Request, exc: Exception) -> JSONResponse:
    logger.error("object store error on %s %s: %s", request.method, request.url.path, exc)
    detail = say(request.app.state.settings, "object_store_down", error=exc)
    return JSONResponse({"detail": detail, "request_id": current_request_id()}, 503)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    init_sentry(settings.SENTRY_DSN, "storage", settings.ENVIRONMENT)
    store = (
        S3Store(settings) if settings.STORAGE_BACKEND == "s3" else FileStore(settings.STORAGE_DIR)
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            store.prepare()
        except OSError as error:
            raise RuntimeError(
                f"STORAGE_DIR {settings.STORAGE_DIR} cannot be prepared ({error.strerror}): "
                "point STORAGE_DIR at a folder this process may write."
            ) from error
        # One JSON line per request (path only: a download link is a capability), uvicorn's off.
        configure_logging("storage")
        yield

    docs = "/storage/docs" if settings.is_local else None
    app = FastAPI(
        title="Storage",
        lifespan=lifespan,
        docs_url=docs,
        redoc_url=None,
        redirect_slashes=False,  # `<name>/` is not a name: 404, not a redirect to the file
        openapi_url="/storage/openapi.json" if settings.is_local else None,
    )
    app.state.settings = settings
    app.state.store = store
    app.state.link_key = links.signing_key(settings.STORAGE_TOKEN.get_secret_value())
    app.include_router(files.router, prefix="/storage")
    app.include_router(health.router, prefix="/storage")
    app.add_exception_handler(ObjectStoreError, _object_store_error)
    app.add_exception_handler(Exception, _unexpected_error)
    app.add_middleware(ObservabilityMiddleware, service="storage")
    return app


app = create_app()
