"""Read the `file` field of a multipart/form-data body as it arrives, without buffering it.

FastAPI's `UploadFile` spools the whole file to the backend's disk first; here the bytes flow
from the client's request straight into the request to the storage service.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from app.core.messages import say
from app.core.text import without_hidden_formatting

FILE_FIELD = "file"
_UNSAFE_NAME_CHARS = re.compile(r"[\x00-\x1f\x7f]")
# type/subtype in RFC 9110's token characters; anything else a client claims becomes
# application/octet-stream (storage decides the served type from the extension anyway).
_MEDIA_TYPE = re.compile(rb"[A-Za-z0-9!#$&^_.+-]{1,63}/[A-Za-z0-9!#$&^_.+-]{1,63}")
DEFAULT_MEDIA_TYPE = "application/octet-stream"
# RFC 2046: a boundary has 1 to 70 characters; python-multipart refuses more than 256.
MAX_BOUNDARY_LENGTH = 70
# Fields other than the file: the edge does not cap the upload's body (only the backend can tell
# the file's bytes from the wrapping), so what is not the file is capped here.
MAX_OTHER_FIELDS_BYTES = 64 * 1024


class UploadError(Exception):
    """The upload cannot be accepted; `status_code` and `detail` (from core/messages) go to the
    client."""

    def __init__(self, status_code: int, detail: str):
        super().__init__(detail)
        self.status_code, self.detail = status_code, detail


class UploadTooLargeError(UploadError):
    """More bytes arrived than the upload was allowed (`limit_kind` says which limit)."""

    def __init__(self, limit_kind: str):
        super().__init__(413, limit_kind)
        self.limit_kind = limit_kind


@dataclass
class _Part:
    headers: dict[bytes, bytes] = field(default_factory=dict)


@dataclass
class FilePart:
    filename: str
    content_type: str
    _events: AsyncIterator[tuple[str, bytes]]

    async def chunks(self, *, limit: int, limit_kind: str) -> AsyncIterator[bytes]:
        """The file's bytes; raises UploadTooLargeError past `limit` bytes, UploadError if cut."""
        received = 0
        async for kind, data in self._events:
            if kind == "data":
                received += len(data)
                if received > limit:
                    raise UploadTooLargeError(limit_kind)
                yield data
            elif kind == "part_end":
                break
        # Read to the closing boundary: a body cut short must not be stored as a whole file.
        extra = 0
        async for kind, data in self._events:
            if kind == "end":
                return
            extra += len(data)
            if extra > MAX_OTHER_FIELDS_BYTES:
                raise UploadError(413, say("upload_other_fields", field=FILE_FIELD))
        raise UploadError(400, say("upload_cut_short"))


def boundary_of(content_type: str | None) -> bytes:
    mime, params = parse_options_header(content_type or "")
    boundary = params.get(b"boundary")
    if mime != b"multipart/form-data" or not boundary:
        raise UploadError(415, say("upload_not_multipart", field=FILE_FIELD))
    if len(boundary) > MAX_BOUNDARY_LENGTH:
        raise UploadError(
            400,
            say("upload_boundary_too_long", length=len(boundary), limit=MAX_BOUNDARY_LENGTH),
        )
    return boundary


def media_type_of(raw: bytes) -> str:
    """The part's declared type if it is a well-formed type/subtype, else octet-stream."""
    declared = raw.split(b";", 1)[0].strip()
    if _MEDIA_TYPE.fullmatch(declared):
        return declared.decode("ascii").lower()
    return DEFAULT_MEDIA_TYPE


async def _events(
    stream: AsyncIterator[bytes], boundary: bytes
) -> AsyncIterator[tuple[str, bytes]]:
    """Turn body chunks into ("headers"|"data"|"part_end"|"end", bytes) events."""
    pending: list[tuple[str, bytes]] = []
    part = _Part()
    header_name = bytearray()
    header_value = bytearray()

    def on_part_begin() -> None:
        nonlocal part
        part = _Part()

    def on_header_field(data: bytes, start: int, end: int) -> None:
        header_name.extend(data[start:end])

    def on_header_value(data: bytes, start: int, end: int) -> None:
        header_value.extend(data[start:end])

    def on_header_end() -> None:
        part.headers[bytes(header_name).lower()] = bytes(header_value)
        header_name.clear()
        header_value.clear()

    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": on_part_begin,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_headers_finished": lambda: pending.append(("headers", _encode_headers(part))),
            "on_part_data": lambda data, start, end: pending.append(("data", data[start:end])),
            "on_part_end": lambda: pending.append(("part_end", b"")),
            "on_end": lambda: pending.append(("end", b"")),
        },
    )
    async for chunk in stream:
        try:
            parser.write(chunk)
        except FormParserError as exc:
            raise UploadError(400, say("upload_malformed")) from exc
        for event in pending:
            yield event
        pending.clear()


def _encode_headers(part: _Part) -> bytes:
    # Only the two headers that matter travel in the event, as "disposition\ncontent-type".
    return (
        part.headers.get(b"content-disposition", b"")
        + b"\n"
        + part.headers.get(b"content-type", b"")
    )


def clean_filename(raw: bytes) -> str:
    """The user's file name for display: no folders, no control characters or hidden formatting,
    at most 255 characters."""
    name = raw.decode("utf-8", errors="replace").replace("\\", "/").rsplit("/", 1)[-1]
    name = without_hidden_formatting(_UNSAFE_NAME_CHARS.sub("", name)).strip()
    return name[:255] or "file"


async def open_file_part(stream: AsyncIterator[bytes], content_type: str | None) -> FilePart:
    """Read the body up to the start of the `file` field's content and return that field."""
    events = _events(stream, boundary_of(content_type))
    other_fields = 0
    async for kind, data in events:
        if kind == "end":
            break
        if kind != "headers":
            other_fields += len(data)
            if other_fields > MAX_OTHER_FIELDS_BYTES:
                raise UploadError(413, say("upload_other_fields", field=FILE_FIELD))
            continue
        disposition, _, part_type = data.partition(b"\n")
        _, params = parse_options_header(disposition)
        if params.get(b"name") == FILE_FIELD.encode() and b"filename" in params:
            return FilePart(clean_filename(params[b"filename"]), media_type_of(part_type), events)
    raise UploadError(422, say("upload_no_file", field=FILE_FIELD))
