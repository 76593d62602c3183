"""Liveness (the process answers) and readiness (its database and storage answer).

The readiness check is public (the edge forwards /api/), so it must stay cheap whatever the rate
it is asked at: a real check (a query, and storage's own check, which writes and fsyncs a file)
runs at most once per READY_REUSE_SECONDS per worker, and every caller meanwhile gets its answer;
callers that arrive while a check runs wait for that one instead of starting another.
"""

from __future__ import annotations

import asyncio
import logging
import time

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.deps import SessionDep, StorageDep
from app.core.messages import say
from app.services.storage import StorageClient

router = APIRouter(prefix="/health", tags=["health"])
logger = logging.getLogger(__name__)

READY_REUSE_SECONDS = 1.0
_last: tuple[float, dict[str, str]] = (float("-inf"), {})
_checking = asyncio.Lock()


@router.get("")
async def read_health() -> dict[str, str]:
    return {"status": "ok"}


async def _check(session: AsyncSession, storage: StorageClient) -> dict[str, str]:
    checks = {"database": "ok", "storage": "ok"}
    try:
        await session.execute(text("SELECT 1"))
    except Exception as exc:  # any failure means "not ready"; the reason goes to the log
        logger.warning("database not ready: %r", exc)
        checks["database"] = "unreachable"
    if not await storage.is_ready():
        checks["storage"] = "unreachable"
    return checks


async def _checks(session: AsyncSession, storage: StorageClient) -> dict[str, str]:
    global _last
    async with _checking:
        checked_at, checks = _last
        if time.monotonic() - checked_at >= READY_REUSE_SECONDS:
            checks = await _check(session, storage)
            _last = (time.monotonic(), checks)
    return checks


@router.get("/ready", responses={503: {"description": "A dependency is down"}})
async def read_readiness(session: SessionDep, storage: StorageDep) -> JSONResponse:
    checks = await _checks(session, storage)
    down = [name for name, state in checks.items() if state != "ok"]
    if down:
        return JSONResponse(
            {"detail": say("not_ready", down=" + ".join(down)), "checks": checks},
            status_code=503,
        )
    return JSONResponse({"status": "ok", "checks": checks})
