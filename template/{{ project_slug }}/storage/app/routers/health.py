"""Liveness (public through the edge) and readiness (internal: is the volume writable?)."""

import logging

from fastapi import APIRouter, HTTPException, status
from fastapi.concurrency import run_in_threadpool

from app.dependencies import InternalOnly, SettingsDep, StoreDep
from app.messages import say
from app.s3store import ObjectStoreError
from app.schemas import Status

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/health", tags=["health"])


@router.get("")
async def read_health() -> Status:
    return Status(status="ok")


@router.get(
    "/ready",
    dependencies=[InternalOnly],
    responses={503: {"description": "The storage volume is not writable, or the bucket unusable"}},
)
async def read_readiness(store: StoreDep, settings: SettingsDep) -> Status:
    try:
        await run_in_threadpool(store.check_writable)
    except ObjectStoreError as error:
        logger.warning("readiness check failed: %s", error)
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, say(settings, "bucket_unusable", error=error)
        ) from error
    except OSError as error:
        logger.warning("readiness check failed: %s", error)
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            say(settings, "volume_not_writable", error=error.strerror or error),
        ) from error
    return Status(status="ok")
