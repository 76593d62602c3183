"""The storage volume on disk: durable atomic writes, lookups and deletes of stored files.

Layout: `<root>/<aa>/<bb>/<name>` (see names.shard_of), uploads in progress in `<root>/.tmp/`.
Every method here blocks on the disk: the routers call them in a worker thread.
"""

import contextlib
import errno
import hashlib
import logging
import os
import stat
import tempfile
import time
from pathlib import Path
from typing import Self

from app import names

logger = logging.getLogger(__name__)

# Modes set explicitly (never left to the umask): when the service runs as root natively,
# nginx workers (user nobody) must still read files through X-Accel-Redirect.
FILE_MODE = 0o644
DIR_MODE = 0o755
TMP_DIR_MODE = 0o700  # uploads in progress are nobody else's business
WRITE_BLOCK = 1024 * 1024  # bytes gathered in memory before one write to disk
STALE_UPLOAD_SECONDS = 3600
SHA256_XATTR = "user.closo.sha256"
_TMP_PREFIX = "upload-"


class UploadTooLarge(Exception):
    pass


class VolumeFull(Exception):
    pass


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _raise_volume_full_if_so(error: OSError) -> None:
    if error.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        raise VolumeFull from error


class FileStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.tmp_dir = root / ".tmp"

    def prepare(self) -> None:
        """Create the volume's folders if needed and drop uploads a crash left behind."""
        for path, mode in ((self.root, DIR_MODE), (self.tmp_dir, TMP_DIR_MODE)):
            if not path.is_dir():
                path.mkdir(parents=True, exist_ok=True)
                path.chmod(mode)
        cutoff = time.time() - STALE_UPLOAD_SECONDS
        # Only old files: another worker process may be writing a fresh one right now.
        for leftover in self.tmp_dir.glob(f"{_TMP_PREFIX}*"):
            with contextlib.suppress(FileNotFoundError):
                if leftover.lstat().st_mtime < cutoff:
                    leftover.unlink()
                    logger.info("removed an interrupted upload: %s", leftover.name)

    def _blocked_marker(self, owner: str) -> Path:
        return self.root / ".blocked" / owner

    def set_owner_blocked(self, owner: str, blocked: bool) -> None:
        """Refuse (or allow again) every download link of an owner: a marker file per owner."""
        marker = self._blocked_marker(owner)
        if blocked:
            marker.parent.mkdir(mode=TMP_DIR_MODE, exist_ok=True)
            marker.touch()
            _fsync_dir(marker.parent)
        else:
            marker.unlink(missing_ok=True)

    def is_owner_blocked(self, owner: str) -> bool:
        return self._blocked_marker(owner).exists()

    def path_of(self, name: str) -> Path:
        """Where a stored name lives. Callers must have checked it with names.is_stored_name."""
        return self.root.joinpath(*names.shard_of(name), name)

    def stat(self, name: str) -> os.stat_result | None:
        """The file's status; None when absent or not a regular file (symlinks are not followed)."""
        try:
            result = self.path_of(name).lstat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        return result if stat.S_ISREG(result.st_mode) else None

    def sha256_of(self, name: str) -> str | None:
        """The digest recorded at upload, when the file system kept it (extended attributes)."""
        try:
            return os.getxattr(self.path_of(name), SHA256_XATTR, follow_symlinks=False).decode()
        except OSError:
            return None

    def delete(self, name: str) -> bool:
        path = self.path_of(name)
        if self.stat(name) is None:
            return False
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        # Shard folders stay: removing an empty one could race with an upload renaming into it.
        _fsync_dir(path.parent)
        return True

    def begin_upload(self, limit: int, extension: str | None) -> "Upload":
        return Upload(self, limit, extension)

    def check_writable(self) -> None:
        """Raise OSError unless a file can be created, written, synced and removed in the volume."""
        fd, probe = tempfile.mkstemp(dir=self.tmp_dir, prefix="ready-")
        try:
            os.write(fd, b"ok")
            os.fsync(fd)
        finally:
            os.close(fd)
            os.unlink(probe)


class Upload:
    """One upload: bytes go to a temporary file in the volume, then into place atomically.

    Use as a context manager: leaving it without `commit()` (error, disconnect, size limit)
    removes the temporary file, so nothing partial is ever left behind.
    """

    def __init__(self, store: FileStore, limit: int, extension: str | None) -> None:
        self._store = store
        self._limit = limit
        self._extension = extension
        self._buffer = bytearray()
        self._sha256 = hashlib.sha256()
        self.size = 0
        try:
            fd, path = tempfile.mkstemp(dir=store.tmp_dir, prefix=_TMP_PREFIX)
        except OSError as error:
            _raise_volume_full_if_so(error)
            raise
        self._file = os.fdopen(fd, "wb", buffering=0)
        self._tmp_path: Path | None = Path(path)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.discard()

    def add(self, chunk: bytes) -> bool:
        """Account for a chunk (no disk access). True when the buffer should be flushed now."""
        self.size += len(chunk)
        if self.size > self._limit:
            raise UploadTooLarge
        self._buffer += chunk
        return len(self._buffer) >= WRITE_BLOCK

    def flush(self) -> None:
        if not self._buffer:
            return
        data = memoryview(self._buffer)
        self._sha256.update(data)
        try:
            while data:
                data = data[self._file.write(data) :]
        except OSError as error:
            _raise_volume_full_if_so(error)
            raise
        finally:
            data.release()
        self._buffer.clear()

    def commit(self) -> tuple[str, str]:
        """Make the file durable and visible under a new generated name; return (name, sha256)."""
        self.flush()
        try:
            os.fchmod(self._file.fileno(), FILE_MODE)
            os.fsync(self._file.fileno())
            self._file.close()
            name = names.generate_name(self._extension)
            target = self._store.path_of(name)
            self._make_shard_dirs(target.parent)
            digest = self._sha256.hexdigest()
            with contextlib.suppress(OSError):  # not every file system keeps user xattrs
                os.setxattr(self._tmp_path, SHA256_XATTR, digest.encode())
            os.replace(self._tmp_path, target)
            # Until the rename is durable the upload has not succeeded: a failure removes it.
            self._tmp_path = target
            _fsync_dir(target.parent)
        except OSError as error:
            _raise_volume_full_if_so(error)
            raise
        self._tmp_path = None
        return name, digest

    def discard(self) -> None:
        self._file.close()
        if self._tmp_path is not None:
            with contextlib.suppress(FileNotFoundError):
                self._tmp_path.unlink()
            self._tmp_path = None

    def _make_shard_dirs(self, shard: Path) -> None:
        created = []
        for path in (shard.parent, shard):
            try:
                path.mkdir()
            except FileExistsError:
                continue
            path.chmod(DIR_MODE)
            created.append(path)
        for path in created:  # a new folder is durable once its parent's entry is
            _fsync_dir(path.parent)
