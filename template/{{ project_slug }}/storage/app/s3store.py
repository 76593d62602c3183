"""The S3 backend (STORAGE_BACKEND=s3): files are objects of one bucket, keyed by stored name.

The same interface as app.store.FileStore, so the routers do not care which one they hold.
Uploads stream into an S3 multipart upload in parts of a bounded size (memory stays flat), or a
single PUT when the whole file fits in one part; an upload left without commit() is aborted, so
the bucket never keeps a partial file. Downloads never pass through this process: nginx fetches
a short-lived presigned URL (docs/CONTRACTS.md). Every method here blocks on the network: the
routers call them in a worker thread, as they do the volume's.
"""

import hashlib
import logging
import math
from dataclasses import dataclass
from typing import Self
from urllib.parse import urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from app import names
from app.config import Settings
from app.store import UploadTooLarge

logger = logging.getLogger(__name__)

MIB = 1024 * 1024
# S3 wants parts of at least 5 MiB (the last one excepted) and at most 10,000 of them.
MIN_PART_SIZE = 8 * MIB
MAX_PARTS = 10_000
SHA256_METADATA = "sha256"  # x-amz-meta-sha256, on files small enough for a single PUT


class ObjectStoreError(OSError):
    """The object store refused or could not be reached; strerror says what it answered."""


@dataclass(frozen=True)
class ObjectStatus:
    """What a HEAD of the object tells (the volume's os.stat_result has the same st_size)."""

    st_size: int
    sha256: str | None


def part_size_for(limit: int) -> int:
    """The smallest whole-MiB part size, at least MIN_PART_SIZE, that fits `limit` bytes."""
    needed = math.ceil(limit / MAX_PARTS / MIB) * MIB
    return max(MIN_PART_SIZE, needed)


def _store_error(error: Exception) -> ObjectStoreError:
    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code", "error")
        return ObjectStoreError(f"the object store answered {code}")
    return ObjectStoreError(f"the object store could not be reached: {error}")


def _is_missing(error: ClientError) -> bool:
    code = str(error.response.get("Error", {}).get("Code", ""))
    return code in ("404", "NoSuchKey", "NotFound")


class S3Store:
    def __init__(self, settings: Settings) -> None:
        self.bucket = settings.S3_BUCKET
        self.presign_seconds = settings.S3_PRESIGN_SECONDS
        self.client = boto3.session.Session().client(
            "s3",
            endpoint_url=settings.S3_ENDPOINT,
            region_name=settings.S3_REGION,
            aws_access_key_id=settings.S3_ACCESS_KEY_ID.get_secret_value(),
            aws_secret_access_key=settings.S3_SECRET_ACCESS_KEY.get_secret_value(),
            config=Config(
                signature_version="s3v4",
                # Path-style URLs keep the host of S3_ENDPOINT, the one nginx proxies to.
                s3={"addressing_style": "path"},
                # Checksums only where the API requires them: not every S3-compatible store
                # accepts the newer trailing checksums. sha256 is computed here anyway.
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
                connect_timeout=5,
                read_timeout=60,
                retries={"max_attempts": 3, "mode": "standard"},
            ),
        )

    def prepare(self) -> None:
        """Nothing to create: the bucket is the operator's. Readiness reports whether it answers."""

    def stat(self, name: str) -> ObjectStatus | None:
        """The object's size (and sha256 when recorded); None when there is no such object."""
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=name)
        except ClientError as error:
            if _is_missing(error):
                return None
            raise _store_error(error) from error
        except BotoCoreError as error:
            raise _store_error(error) from error
        return ObjectStatus(head["ContentLength"], head.get("Metadata", {}).get(SHA256_METADATA))

    def set_owner_blocked(self, owner: str, blocked: bool) -> None:
        """Refuse (or allow again) every download link of an owner: an empty marker object."""
        key = f".blocked/{owner}"  # never a stored name: those are hex
        try:
            if blocked:
                self.client.put_object(Bucket=self.bucket, Key=key, Body=b"")
            else:
                self.client.delete_object(Bucket=self.bucket, Key=key)
        except (BotoCoreError, ClientError) as error:
            raise _store_error(error) from error

    def is_owner_blocked(self, owner: str) -> bool:
        return self.stat(f".blocked/{owner}") is not None

    def sha256_of(self, name: str) -> str | None:
        status = self.stat(name)
        return status.sha256 if status else None

    def delete(self, name: str) -> bool:
        if self.stat(name) is None:
            return False
        try:
            self.client.delete_object(Bucket=self.bucket, Key=name)
        except (BotoCoreError, ClientError) as error:
            raise _store_error(error) from error
        return True

    def begin_upload(self, limit: int, extension: str | None) -> "S3Upload":
        return S3Upload(self, limit, extension)

    def check_writable(self) -> None:
        """Raise OSError unless the bucket exists and these credentials may use it."""
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except (BotoCoreError, ClientError) as error:
            raise _store_error(error) from error

    def presigned_target(self, name: str, method: str) -> str:
        """Path and query of a presigned URL for GET or HEAD of the object (no network call).

        The signature covers the method, so a HEAD gets a HEAD URL; nginx supplies the origin.
        """
        operation = "head_object" if method == "HEAD" else "get_object"
        url = self.client.generate_presigned_url(
            operation,
            Params={"Bucket": self.bucket, "Key": name},
            ExpiresIn=self.presign_seconds,
            HttpMethod=method if method == "HEAD" else "GET",
        )
        parts = urlsplit(url)
        return f"{parts.path}?{parts.query}"


class S3Upload:
    """One upload into the bucket; use as a context manager, like app.store.Upload.

    Bytes gather in memory up to one part, then go out as a part of a multipart upload (created
    with the first full part). Leaving the block without commit() aborts the multipart upload:
    the store frees the parts and no object appears.
    """

    def __init__(self, store: S3Store, limit: int, extension: str | None) -> None:
        self._store = store
        self._limit = limit
        self._part_size = part_size_for(limit)
        self._buffer = bytearray()
        self._sha256 = hashlib.sha256()
        self._upload_id: str | None = None
        self._parts: list[dict[str, object]] = []
        self.name = names.generate_name(extension)
        self.size = 0

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.discard()

    @property
    def _client(self):  # noqa: ANN202 (boto3 clients have no static type)
        return self._store.client

    def add(self, chunk: bytes) -> bool:
        """Account for a chunk (no network). True when a part is full and should be sent now."""
        self.size += len(chunk)
        if self.size > self._limit:
            raise UploadTooLarge
        self._buffer += chunk
        return len(self._buffer) >= self._part_size

    def flush(self) -> None:
        """Send what is gathered as one part once it is a full one (parts need not be equal)."""
        if len(self._buffer) >= self._part_size:
            self._send_part()

    def _send_part(self) -> None:
        # The buffer itself goes out (no copy); the next part starts in a new one.
        part, self._buffer = self._buffer, bytearray()
        self._sha256.update(part)
        try:
            if self._upload_id is None:
                created = self._client.create_multipart_upload(
                    Bucket=self._store.bucket,
                    Key=self.name,
                    ContentType=names.content_type_of(self.name),
                )
                self._upload_id = created["UploadId"]
            number = len(self._parts) + 1
            answer = self._client.upload_part(
                Bucket=self._store.bucket,
                Key=self.name,
                UploadId=self._upload_id,
                PartNumber=number,
                Body=part,
            )
        except (BotoCoreError, ClientError) as error:
            raise _store_error(error) from error
        self._parts.append({"PartNumber": number, "ETag": answer["ETag"]})

    def commit(self) -> tuple[str, str]:
        """Make the object visible under its generated name; return (name, sha256)."""
        try:
            if self._upload_id is None:  # it all fits in one part: a single PUT
                body = bytes(self._buffer)
                self._buffer.clear()
                self._sha256.update(body)
                self._client.put_object(
                    Bucket=self._store.bucket,
                    Key=self.name,
                    Body=body,
                    ContentType=names.content_type_of(self.name),
                    Metadata={SHA256_METADATA: self._sha256.hexdigest()},
                )
            else:
                if self._buffer:
                    self._send_part()
                self._client.complete_multipart_upload(
                    Bucket=self._store.bucket,
                    Key=self.name,
                    UploadId=self._upload_id,
                    MultipartUpload={"Parts": self._parts},
                )
                self._upload_id = None
        except (BotoCoreError, ClientError) as error:
            raise _store_error(error) from error
        return self.name, self._sha256.hexdigest()

    def discard(self) -> None:
        self._buffer.clear()
        if self._upload_id is None:
            return
        upload_id, self._upload_id = self._upload_id, None
        try:
            self._client.abort_multipart_upload(
                Bucket=self._store.bucket, Key=self.name, UploadId=upload_id
            )
        except (BotoCoreError, ClientError):
            # A lifecycle rule for incomplete uploads is the backstop (docs/deployment.md).
            logger.exception("could not abort the multipart upload %s of %s", upload_id, self.name)
