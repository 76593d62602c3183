"""Stored file names: generated here, never chosen by a client, and checked before any disk access.

A stored name is 32 lowercase hex characters (128 random bits) plus, optionally, an extension
from the allow-list below: `3f2a…e1.png`. Anything else is not a name of ours, so a request for
it is answered 404 without touching the file system: no `..`, no `/`, no NUL, no hidden file.
"""

import re
import secrets

# Extension -> the Content-Type it is served with. The type comes from this table, never from
# the uploading client, so a file cannot claim to be something it was not stored as.
CONTENT_TYPES: dict[str, str] = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "gif": "image/gif",
    "webp": "image/webp",
    "avif": "image/avif",
    "bmp": "image/bmp",
    "ico": "image/vnd.microsoft.icon",
    "tiff": "image/tiff",
    "heic": "image/heic",
    "svg": "image/svg+xml",
    "pdf": "application/pdf",
    "txt": "text/plain",
    "csv": "text/csv",
    "md": "text/markdown",
    "html": "text/html",
    "xml": "application/xml",
    "json": "application/json",
    "yaml": "application/yaml",
    "rtf": "application/rtf",
    "doc": "application/msword",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xls": "application/vnd.ms-excel",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "ppt": "application/vnd.ms-powerpoint",
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "odt": "application/vnd.oasis.opendocument.text",
    "ods": "application/vnd.oasis.opendocument.spreadsheet",
    "odp": "application/vnd.oasis.opendocument.presentation",
    "epub": "application/epub+zip",
    "zip": "application/zip",
    "gz": "application/gzip",
    "tar": "application/x-tar",
    "7z": "application/x-7z-compressed",
    "mp3": "audio/mpeg",
    "ogg": "audio/ogg",
    "wav": "audio/wav",
    "flac": "audio/flac",
    "mp4": "video/mp4",
    "webm": "video/webm",
    "mov": "video/quicktime",
}
DEFAULT_CONTENT_TYPE = "application/octet-stream"

# Spellings of the same format, folded into one extension.
EXTENSION_ALIASES = {
    "jpeg": "jpg",
    "jpe": "jpg",
    "htm": "html",
    "tif": "tiff",
    "yml": "yaml",
    "markdown": "md",
    "text": "txt",
    "tgz": "gz",
}

# Shown in the browser; everything else downloads. SVG is an image but can carry script: it
# downloads too (and the sandbox CSP covers it anyway).
INLINE_EXTENSIONS = frozenset({"png", "jpg", "gif", "webp", "avif", "bmp", "ico", "pdf"})

_EXTENSION_OF_TYPE = {content_type: ext for ext, content_type in CONTENT_TYPES.items()}
_STORED_NAME = re.compile(r"(?P<token>[0-9a-f]{32})(?:\.(?P<ext>[0-9a-z]{1,5}))?")
_RANDOM_BYTES = 16  # 128 bits


def normalise_extension(filename: str, content_type: str | None = None) -> str | None:
    """The allow-listed extension of a client's file name, else of its declared type, else None."""
    base = filename.replace("\\", "/").rsplit("/", 1)[-1].strip().lower()
    _, dot, suffix = base.rpartition(".")
    if dot and suffix:
        suffix = EXTENSION_ALIASES.get(suffix, suffix)
        if suffix in CONTENT_TYPES:
            return suffix
    declared = (content_type or "").split(";", 1)[0].strip().lower()
    return _EXTENSION_OF_TYPE.get(declared)


def generate_name(extension: str | None) -> str:
    token = secrets.token_hex(_RANDOM_BYTES)
    return f"{token}.{extension}" if extension else token


def is_stored_name(name: str) -> bool:
    match = _STORED_NAME.fullmatch(name)
    return match is not None and (match["ext"] is None or match["ext"] in CONTENT_TYPES)


def extension_of(name: str) -> str | None:
    _, dot, ext = name.partition(".")
    return ext if dot else None


def content_type_of(name: str) -> str:
    return CONTENT_TYPES.get(extension_of(name) or "", DEFAULT_CONTENT_TYPE)


def disposition_of(name: str) -> str:
    return "inline" if extension_of(name) in INLINE_EXTENSIONS else "attachment"


def shard_of(name: str) -> tuple[str, str]:
    """Two levels of 256 folders each, so no folder grows without bound."""
    return name[0:2], name[2:4]
