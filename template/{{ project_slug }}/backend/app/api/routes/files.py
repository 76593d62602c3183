"""Uploads streamed to the storage service, and the caller's own files."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import Annotated

import anyio
from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from starlette.requests import ClientDisconnect

from app import crud
from app.api.deps import CurrentUser, PaginationDep, SessionDep, StorageDep, unauthorized
from app.api.responses import FILE_NOT_FOUND, SIGNED_IN, STORAGE_DOWN, error
from app.core.config import MB, settings
from app.core.messages import say
from app.crud import Account
from app.models import File
from app.schemas import (
    DEFAULT_ORDER,
    FilePublic,
    FileSearch,
    FileSort,
    Page,
    SortOrder,
    UsagePublic,
)
from app.services import open_uploads
from app.services.storage import StorageClient, StorageError, StoredFile
from app.services.uploads import UploadError, UploadTooLargeError, open_file_part

router = APIRouter(tags=["files"], responses=SIGNED_IN)
logger = logging.getLogger(__name__)

# Room for the multipart boundaries and part headers around the file itself.
MULTIPART_OVERHEAD = 64 * 1024


def _too_large(limit_kind: str, quota: int = 0) -> HTTPException:
    if limit_kind == "quota":
        return HTTPException(
            status.HTTP_507_INSUFFICIENT_STORAGE,
            detail=say("upload_over_quota", quota_mb=quota // MB),
        )
    return HTTPException(
        status.HTTP_413_CONTENT_TOO_LARGE,
        detail=say("upload_too_large", limit_mb=settings.MAX_UPLOAD_MB),
    )


@router.post(
    "/upload",
    status_code=status.HTTP_201_CREATED,
    response_model=FilePublic,
    responses={
        400: error("The upload was cut short or its multipart body is malformed"),
        413: error("The file is larger than the upload limit"),
        415: error("The body is not multipart/form-data"),
        429: error("Too many uploads of this account at once (Retry-After)"),
        507: error("The file would exceed the user's storage quota"),
        **STORAGE_DOWN,
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["file"],
                        "properties": {"file": {"type": "string", "format": "binary"}},
                    }
                }
            },
        }
    },
)
async def upload_file(
    request: Request, user: CurrentUser, session: SessionDep, storage: StorageDep
) -> File:
    declared = request.headers.get("content-length", "")
    # The file is at most the body's length: what is too large is refused before a byte of the
    # body is read, so a client that does not check first hears it at once.
    file_at_most = int(declared) - MULTIPART_OVERHEAD if declared.isdigit() else 0
    if file_at_most > settings.max_upload_bytes:
        raise _too_large("size")
    quota = user.quota_bytes
    remaining = quota - await crud.used_bytes(session, owner_id=user.id)
    # Hand the pooled connection back for the length of the transfer.
    await session.commit()
    if remaining <= 0 or file_at_most > remaining:
        raise _too_large("quota", quota)
    limit, limit_kind = min(
        (settings.max_upload_bytes, "size"), (remaining, "quota"), key=lambda pair: pair[0]
    )
    try:
        async with open_uploads.slot(user.id):
            return await _receive(request, session, storage, user, limit, limit_kind)
    except open_uploads.TooManyUploadsError as exc:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            detail=say("too_many_uploads", count=open_uploads.STREAMING + open_uploads.WAITING),
            headers={"Retry-After": "10"},
        ) from exc


async def _receive(
    request: Request,
    session: SessionDep,
    storage: StorageClient,
    user: Account,
    limit: int,
    limit_kind: str,
) -> File:
    """Stream the file part to storage, then record it."""
    quota = user.quota_bytes
    try:
        part = await open_file_part(request.stream(), request.headers.get("content-type"))
        stored = await storage.upload(
            filename=part.filename,
            content_type=part.content_type,
            body=part.chunks(limit=limit, limit_kind=limit_kind),
        )
    except UploadTooLargeError as exc:
        raise _too_large(exc.limit_kind, quota) from exc
    except UploadError as exc:
        raise HTTPException(exc.status_code, detail=exc.detail) from exc
    except ClientDisconnect as exc:  # the client left: an ordinary event, not a server error
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=say("upload_interrupted")) from exc
    except StorageError as exc:
        if exc.status_code == status.HTTP_413_CONTENT_TOO_LARGE:
            raise _too_large("size") from exc
        raise HTTPException(exc.status_code, detail=exc.detail) from exc
    return await _record_upload(
        session, storage, user_id=user.id, quota=quota, name=part.filename, stored=stored
    )


async def _record_upload(
    session: SessionDep,
    storage: StorageClient,
    *,
    user_id: uuid.UUID,
    quota: int,
    name: str,
    stored: StoredFile,
) -> File:
    """Insert the file's row; if that fails (quota raced, database down), delete the stored file,
    but never while its row may exist: a row without its file is a user's file lost."""
    committing = False
    try:
        # Locks the user's row: concurrent uploads of one user are counted one after the other,
        # and an administrator deleting the account waits, or has already deleted it.
        active = await crud.lock_user(session, user_id=user_id)
        if active is None:
            raise unauthorized(say("account_gone"))
        if not active:  # deactivated while the file was on its way: it is not kept
            raise HTTPException(status.HTTP_403_FORBIDDEN, detail=say("account_deactivated"))
        used = await crud.used_bytes(session, owner_id=user_id)
        if used + stored.size > quota:
            raise _too_large("quota", quota)
        row = File(
            owner_id=user_id,
            name=name,
            stored_name=stored.name,
            size=stored.size,
            sha256=stored.sha256,
            content_type=stored.content_type,
        )
        session.add(row)
        committing = True
        # A client that leaves now must not cut the commit in two: it runs to its end.
        with anyio.CancelScope(shield=True):
            await session.commit()
            await session.refresh(row)
    except BaseException:
        with anyio.CancelScope(shield=True):  # a cancelled request still cleans up
            await session.rollback()
            row_exists = await _row_exists(stored.name) if committing else False
            if row_exists is None:
                _settle_later(storage, stored.name)
            elif not row_exists:
                await _delete_stored(storage, stored.name)
        raise
    return row


async def _row_exists(stored_name: str) -> bool | None:
    """After a failed commit, whether a row references the file; None while the database does not
    answer (a connection lost during COMMIT leaves the outcome unknown until it does)."""
    try:
        return await crud.file_row_exists(stored_name=stored_name)
    except Exception:
        return None


async def _delete_stored(storage: StorageClient, stored_name: str) -> None:
    try:
        await storage.delete(stored_name)
    except StorageError:
        logger.error("orphan file %s left in storage after a failed insert", stored_name)


# Files whose row may or may not exist, settled once the database answers again.
_settling: set[asyncio.Task[None]] = set()
SETTLE_RETRY_SECONDS = 0.5
SETTLE_GIVE_UP_SECONDS = 600


def _settle_later(storage: StorageClient, stored_name: str) -> None:
    task = asyncio.get_running_loop().create_task(_settle(storage, stored_name))
    _settling.add(task)
    task.add_done_callback(_settling.discard)


async def _settle(storage: StorageClient, stored_name: str) -> None:
    """Keep the file if its row exists, delete it if not: never a row without its file, and no
    orphan either once the database is back."""
    deadline = time.monotonic() + SETTLE_GIVE_UP_SECONDS
    while time.monotonic() < deadline:
        row_exists = await _row_exists(stored_name)
        if row_exists is not None:
            if not row_exists:
                await _delete_stored(storage, stored_name)
            return
        await asyncio.sleep(SETTLE_RETRY_SECONDS)
    logger.error("orphan file %s: the database did not answer to settle it", stored_name)


@router.get("/files/usage", response_model=UsagePublic)
async def read_usage(user: CurrentUser, session: SessionDep) -> UsagePublic:
    """The caller's limits: space used and left, and the largest file an upload may be."""
    usage = (await crud.usage_of(session, owner_ids=[user.id]))[user.id]
    return UsagePublic(
        file_count=usage.file_count,
        used_bytes=usage.used_bytes,
        quota_bytes=user.quota_bytes,
        max_upload_bytes=settings.max_upload_bytes,
    )


@router.get(
    "/files",
    response_model=Page[FilePublic],
)
async def read_files(
    user: CurrentUser,
    session: SessionDep,
    page: PaginationDep,
    q: Annotated[
        FileSearch,
        Query(description="Only files whose name contains this text, in any case (at most 255)"),
    ] = "",
    sort: Annotated[FileSort, Query(description="Order by name, upload date or size")] = "date",
    order: Annotated[
        SortOrder | None,
        Query(description="asc or desc; by default names A to Z, the newest, the largest first"),
    ] = None,
) -> dict:
    """A page of the caller's files, `total` counting every file that matches `q`.

    A parameter with a value it cannot take is FastAPI's 422, whose `detail` lists the problems,
    each naming its parameter."""
    files, total = await crud.list_files(
        session,
        owner_id=user.id,
        offset=page.offset,
        limit=page.limit,
        search=q,
        sort=sort,
        descending=(order or DEFAULT_ORDER[sort]) == "desc",
    )
    return {"items": files, "total": total}


@router.get("/files/{file_id}", response_model=FilePublic, responses=FILE_NOT_FOUND)
async def read_file(file_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> File:
    file = await crud.get_file(session, owner_id=user.id, file_id=file_id)
    if file is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=say("file_not_found"))
    return file


@router.delete(
    "/files/{file_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**FILE_NOT_FOUND, **STORAGE_DOWN},
)
async def delete_file(
    file_id: uuid.UUID, user: CurrentUser, session: SessionDep, storage: StorageDep
) -> Response:
    file = await crud.get_file(session, owner_id=user.id, file_id=file_id)
    if file is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=say("file_not_found"))
    try:
        # Storage first: if it is down the row stays, so the user can retry and nothing leaks.
        await storage.delete(file.stored_name)
    except StorageError as exc:
        raise HTTPException(exc.status_code, detail=exc.detail) from exc
    await session.delete(file)
    await session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
