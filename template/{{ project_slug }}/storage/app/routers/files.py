"""Stored files: internal upload, delete and metadata (backend only); public download."""

import logging
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from app import links, names, serving
from app.config import Settings
from app.dependencies import InternalOnly, SettingsDep, StoreDep
from app.messages import say
from app.s3store import ObjectStoreError, S3Store
from app.schemas import FileMeta, StoredFile
from app.store import UploadTooLarge, VolumeFull

logger = logging.getLogger(__name__)

router = APIRouter(tags=["files"])


def _too_large(settings: Settings) -> HTTPException:
    return HTTPException(
        status.HTTP_413_CONTENT_TOO_LARGE,
        say(settings, "upload_too_large", limit_mb=settings.MAX_UPLOAD_MB),
    )


def _not_found(settings: Settings) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, say(settings, "file_not_found"))


def _checked_name(settings: Settings, name: str) -> str:
    """A name that is not of the generated form is a 404 before any file-system access."""
    if not names.is_stored_name(name):
        raise _not_found(settings)
    return name


@router.post(
    "/upload",
    status_code=status.HTTP_201_CREATED,
    dependencies=[InternalOnly],
    responses={413: {"description": "Over MAX_UPLOAD_MB"}, 507: {"description": "Disk full"}},
)
async def upload_file(
    request: Request,
    settings: SettingsDep,
    store: StoreDep,
    filename: Annotated[str, Query(max_length=1024, description="The user's file name")] = "",
) -> StoredFile:
    """Stream the raw request body into the volume; the body is the file (not multipart)."""
    limit = settings.max_upload_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(settings)  # refused before a byte is read
    extension = names.normalise_extension(filename, request.headers.get("content-type"))
    try:
        with await run_in_threadpool(store.begin_upload, limit, extension) as upload:
            async for chunk in request.stream():
                if upload.add(chunk):
                    await run_in_threadpool(upload.flush)
            name, sha256 = await run_in_threadpool(upload.commit)
    except UploadTooLarge:
        raise _too_large(settings) from None
    except VolumeFull as error:
        logger.error("upload refused, volume full: %s", error.__cause__)
        raise HTTPException(
            status.HTTP_507_INSUFFICIENT_STORAGE, say(settings, "volume_full")
        ) from error
    except ClientDisconnect:
        logger.info("client disconnected mid-upload; nothing was kept")
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST, say(settings, "upload_interrupted")
        ) from None
    except ObjectStoreError as error:
        logger.error("upload failed on the object store: %s", error)
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            say(settings, "object_store_not_written", error=error),
        ) from error
    except OSError as error:  # read-only volume, lost permissions, I/O error
        logger.exception("upload failed on the storage volume")
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            say(settings, "volume_not_written", error=error.strerror),
        ) from error
    return StoredFile(
        name=name, size=upload.size, sha256=sha256, content_type=names.content_type_of(name)
    )


@router.api_route(
    "/files/{name}",
    methods=["GET", "HEAD"],
    responses={
        200: {"description": "The file's bytes"},
        403: {"description": "Not a valid download link, or an expired one"},
        404: {"description": "No such file, or its owner is deactivated"},
    },
)
async def read_file(
    name: str,
    request: Request,
    settings: SettingsDep,
    store: StoreDep,
    # Checked by links.check (a wrong link is a 403 that says so, never a 422).
    owner: str | None = None,
    expires: str | None = None,
    signature: str | None = None,
) -> Response:
    """Download by a link the backend signed (app/links.py): nginx sends the bytes when it is in
    front, this process otherwise."""
    _checked_name(settings, name)
    try:
        owner, max_age = links.check(
            request.app.state.link_key, name=name, owner=owner, expires=expires, signed=signature
        )
    except links.LinkRefused as refused:
        raise HTTPException(status.HTTP_403_FORBIDDEN, say(settings, refused.reason)) from None
    if await run_in_threadpool(store.is_owner_blocked, owner):
        raise _not_found(settings)  # a deactivated account's file
    file_status = await run_in_threadpool(store.stat, name)
    if file_status is None:
        raise _not_found(settings)
    if isinstance(store, S3Store):
        target = store.presigned_target(name, request.method)
        return serving.s3_redirect(name, target, max_age)
    if settings.STORAGE_ACCEL_REDIRECT:
        return serving.accel_redirect(name, max_age)
    return serving.stream_file(request, store, name, file_status, max_age)


@router.put(
    "/owners/{owner}/blocked",
    status_code=status.HTTP_204_NO_CONTENT,
    dependencies=[InternalOnly],
    responses={404: {}},
)
async def block_owner(owner: str, store: StoreDep, settings: SettingsDep) -> None:
    """The owner's account is deactivated: every download link of theirs is refused."""
    await run_in_threadpool(store.set_owner_blocked, _checked_owner(settings, owner), True)


@router.delete(
    "/owners/{owner}/blocked",
    status_code=status.HTTP_204_NO_CONTENT,
    dependencies=[InternalOnly],
    responses={404: {}},
)
async def unblock_owner(owner: str, store: StoreDep, settings: SettingsDep) -> None:
    await run_in_threadpool(store.set_owner_blocked, _checked_owner(settings, owner), False)


def _checked_owner(settings: Settings, owner: str) -> str:
    if not links.is_owner_id(owner):
        raise HTTPException(status.HTTP_404_NOT_FOUND, say(settings, "no_such_owner"))
    return owner


@router.delete(
    "/files/{name}",
    status_code=status.HTTP_204_NO_CONTENT,
    dependencies=[InternalOnly],
    responses={404: {}},
)
async def delete_file(name: str, store: StoreDep, settings: SettingsDep) -> None:
    if not await run_in_threadpool(store.delete, _checked_name(settings, name)):
        raise _not_found(settings)


@router.get("/meta/{name}", dependencies=[InternalOnly], responses={404: {}})
async def read_file_meta(name: str, store: StoreDep, settings: SettingsDep) -> FileMeta:
    file_status = await run_in_threadpool(store.stat, _checked_name(settings, name))
    if file_status is None:
        raise _not_found(settings)
    return FileMeta(
        name=name,
        size=file_status.st_size,
        sha256=await run_in_threadpool(store.sha256_of, name),
        content_type=names.content_type_of(name),
    )
