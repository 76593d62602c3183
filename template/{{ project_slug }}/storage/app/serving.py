"""How a stored file is answered: safe headers, then nginx (X-Accel-Redirect) or this process."""

import os
from email.utils import parsedate_to_datetime

from fastapi import Request, Response
from fastapi.responses import FileResponse

from app import names
from app.store import FileStore

# Links are private and expire: the user's browser may keep the file while its link lives,
# shared caches never (`private`), and after that it is asked again.
CACHE_CONTROL = "private, max-age={seconds}"
# Uploaded HTML or SVG opened from the site's origin must not run script or load anything.
CONTENT_SECURITY_POLICY = "default-src 'none'; sandbox"
ACCEL_LOCATION = "/_storage_internal"
# The edge's internal location that proxies to S3_ENDPOINT (STORAGE_BACKEND=s3).
S3_ACCEL_LOCATION = "/_storage_s3"


def safe_headers(name: str, max_age: int = 0) -> dict[str, str]:
    return {
        # No filename=: it would override the user's name that the page puts in <a download>.
        "Content-Disposition": names.disposition_of(name),
        "Content-Security-Policy": CONTENT_SECURITY_POLICY,
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": CACHE_CONTROL.format(seconds=max(0, max_age)),
    }


def accel_redirect(name: str, max_age: int) -> Response:
    """Let nginx send the bytes (sendfile, ranges, conditional requests) from its internal location.

    nginx keeps Content-Type, Content-Disposition and Cache-Control of this answer across the
    internal redirect; the edge adds the other safe headers itself (see docs/CONTRACTS.md).
    """
    target = "/".join((ACCEL_LOCATION, *names.shard_of(name), name))
    headers = {**safe_headers(name, max_age), "X-Accel-Redirect": target}
    return Response(headers=headers, media_type=names.content_type_of(name))


def s3_redirect(name: str, presigned_target: str, max_age: int) -> Response:
    """Let nginx fetch the object from the store with a short presigned URL and relay it.

    `presigned_target` is the URL's path and query (`/<bucket>/<name>?X-Amz-...`); the edge adds
    the origin (S3_ENDPOINT), forwards Range and conditional headers, and keeps the safe headers
    of this answer as it does for the volume (docs/CONTRACTS.md).
    """
    headers = {
        **safe_headers(name, max_age),
        "X-Accel-Redirect": S3_ACCEL_LOCATION + presigned_target,
    }
    return Response(headers=headers, media_type=names.content_type_of(name))


def stream_file(
    request: Request, store: FileStore, name: str, status: os.stat_result, max_age: int
) -> Response:
    """Serve the file from this process (no nginx in front: STORAGE_ACCEL_REDIRECT=false)."""
    headers = safe_headers(name, max_age)
    response = FileResponse(
        store.path_of(name),
        media_type=names.content_type_of(name),
        headers=headers,
        stat_result=status,
    )
    if _is_not_modified(request, response):
        kept = ("etag", "last-modified", *(key.lower() for key in headers))
        return Response(status_code=304, headers={key: response.headers[key] for key in kept})
    return response


def _is_not_modified(request: Request, response: Response) -> bool:
    """RFC 9110 section 13.2.2: If-None-Match wins over If-Modified-Since."""
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None:
        etag = response.headers["etag"].removeprefix("W/")
        tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
        return "*" in tags or etag in tags
    if_modified_since = request.headers.get("if-modified-since")
    if if_modified_since is None:
        return False
    try:
        since = parsedate_to_datetime(if_modified_since)
        return parsedate_to_datetime(response.headers["last-modified"]) <= since
    except (TypeError, ValueError):
        return False  # an unreadable date is ignored, as the RFC asks
