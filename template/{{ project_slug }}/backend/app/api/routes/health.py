"""Liveness (the process answers) and readiness (its database and storage answer)."""

from __future__ import annotations

import logging

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from app.api.deps import SessionDep, StorageDep
from app.core.messages import say

router = APIRouter(prefix="/health", tags=["health"])
logger = logging.getLogger(__name__)


@router.get("")
async def read_health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/ready", responses={503: {"description": "A dependency is down"}})
async def read_readiness(session: SessionDep, storage: StorageDep) -> JSONResponse:
    checks = {"database": "ok", "storage": "ok"}
    try:
        await session.execute(text("SELECT 1"))
    except Exception as exc:  # any failure means "not ready"; the reason goes to the log
        logger.warning("database not ready: %r", exc)
        checks["database"] = "unreachable"
    if not await storage.is_ready():
        checks["storage"] = "unreachable"
    down = [name for name, state in checks.items() if state != "ok"]
    if down:
        return JSONResponse(
            {"detail": say("not_ready", down=" + ".join(down)), "checks": checks},
            status_code=503,
        )
    return JSONResponse({"status": "ok", "checks": checks})
