"""The ASGI application: `uvicorn app.main:app` (run `python -m app.prestart` first)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from app.api.main import api_router
from app.core.config import settings
from app.core.db import account_pool, engine
from app.core.errors import install_error_handlers
from app.core.guards import RequestGuardMiddleware
from app.core.logging import configure_logging
from app.core.observability import ObservabilityMiddleware, init_sentry
from app.core.pool_metrics import sample_pools
from app.services import owner_blocks
from app.services.storage import StorageClient


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    configure_logging()
    app.state.storage = StorageClient(base_url=settings.STORAGE_URL, token=settings.STORAGE_TOKEN)
    # wait=False: start even if the database is still coming up; requests then answer 503.
    await account_pool.open(wait=False)
    delivering = asyncio.create_task(owner_blocks.keep_delivering(lambda: app.state.storage))
    yield
    delivering.cancel()
    await account_pool.close()
    await app.state.storage.aclose()
    await engine.dispose()


def create_app() -> FastAPI:
    init_sentry(settings.SENTRY_DSN, "backend", settings.ENVIRONMENT)
    docs = settings.docs_enabled
    app = FastAPI(
        title=f"{settings.PROJECT_NAME} API",
        lifespan=lifespan,
        docs_url="/api/docs" if docs else None,
        redoc_url=None,
        openapi_url="/api/openapi.json" if docs else None,
        swagger_ui_oauth2_redirect_url="/api/docs/oauth2-redirect" if docs else None,
    )
    app.include_router(api_router, prefix="/api")
    install_error_handlers(app)
    app.add_middleware(RequestGuardMiddleware)
    # Outermost: refused requests are logged, counted and carry their id too.
    app.add_middleware(ObservabilityMiddleware, service="backend", sample=sample_pools)
    return app


app = create_app()
