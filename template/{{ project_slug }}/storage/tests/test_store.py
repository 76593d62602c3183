import os
import stat
import time
from pathlib import Path

import pytest

from app import names
from app.store import FileStore, UploadTooLarge


@pytest.fixture
def store(tmp_path: Path) -> FileStore:
    file_store = FileStore(tmp_path / "volume")
    file_store.prepare()
    return file_store


def test_files_and_shards_are_readable_by_nginx_whatever_the_umask(store: FileStore) -> None:
    previous = os.umask(0o077)
    try:
        with store.begin_upload(limit=100, extension="txt") as upload:
            upload.add(b"hello")
            name, _ = upload.commit()
    finally:
        os.umask(previous)
    path = store.path_of(name)
    assert path.read_bytes() == b"hello"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o755
    assert stat.S_IMODE(path.parent.parent.stat().st_mode) == 0o755
    assert stat.S_IMODE(store.tmp_dir.stat().st_mode) == 0o700


def test_an_upload_left_without_commit_leaves_nothing(store: FileStore) -> None:
    with pytest.raises(UploadTooLarge), store.begin_upload(limit=4, extension=None) as upload:
        upload.add(b"abc")
        upload.flush()
        upload.add(b"de")
    assert [path for path in store.root.rglob("*") if not path.is_dir()] == []


def test_sha256_is_recorded_when_the_file_system_keeps_xattrs(store: FileStore) -> None:
    with store.begin_upload(limit=100, extension=None) as upload:
        upload.add(b"abc")
        name, digest = upload.commit()
    assert digest == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert store.sha256_of(name) in (digest, None)


def test_symlinks_are_not_followed(store: FileStore, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("not for you")
    name = names.generate_name("txt")
    store.path_of(name).parent.mkdir(parents=True)
    store.path_of(name).symlink_to(secret)
    assert store.stat(name) is None
    assert store.delete(name) is False
    assert secret.exists()


def test_prepare_removes_only_stale_interrupted_uploads(store: FileStore) -> None:
    stale, fresh = store.tmp_dir / "upload-stale", store.tmp_dir / "upload-fresh"
    stale.write_bytes(b"x")
    fresh.write_bytes(b"y")
    two_hours_ago = time.time() - 7200
    os.utime(stale, (two_hours_ago, two_hours_ago))
    store.prepare()
    assert not stale.exists()
    assert fresh.exists()
