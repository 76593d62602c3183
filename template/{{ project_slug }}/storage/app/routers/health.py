"""Liveness (public through the edge) and readiness (internal: is the volume writable?)."""

import logging

from fastapi import APIRouter, HTTPException, status
from fastapi.concurrency import run_in_threadpool

from app.dependencies import InternalOnly, StoreDep
from app.schemas import Status

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/health", tags=["health"])


@router.get("")
async def read_health() -> Status:
    return Status(status="ok")


@router.get(
    "/ready",
    dependencies=[InternalOnly],
    responses={503: {"description": "The storage volume is not writable"}},
)
async def read_readiness(store: StoreDep) -> Status:
    try:
        await run_in_threadpool(store.check_writable)
    except OSError as error:
        logger.warning("readiness check failed: %s", error)
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            f"The storage volume is not writable ({error.strerror or error}): check STORAGE_DIR, "
            "its permissions and free space.",
        ) from error
    return Status(status="ok")
