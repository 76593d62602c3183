"""The S3 backend on its own, against the test store: parts, aborts, what is left behind."""

import hashlib
import os
from pathlib import Path

import pytest

from app.s3store import MIB, MIN_PART_SIZE, S3Store, part_size_for
from app.store import UploadTooLarge
from tests.conftest import Backend, bucket_contents, s3_client


@pytest.mark.parametrize(("limit_mb", "part_mb"), [(1, 8), (50, 8), (80_000, 8), (102_400, 11)])
def test_parts_stay_small_and_within_the_stores_10000(limit_mb: int, part_mb: int) -> None:
    size = part_size_for(limit_mb * MIB)
    assert size == part_mb * MIB
    assert size * 10_000 >= limit_mb * MIB


@pytest.fixture
def store(bucket: str, volume: Path) -> S3Store:
    return S3Store(Backend("s3", volume, bucket).settings(MAX_UPLOAD_MB=64))


def test_a_file_of_several_parts_is_stored_whole(store: S3Store) -> None:
    content = os.urandom(2 * MIN_PART_SIZE + 12345)
    with store.begin_upload(64 * MIB, "bin") as upload:
        for start in range(0, len(content), 65536):
            if upload.add(content[start : start + 65536]):
                upload.flush()
        assert bucket_contents(store.bucket) == [f"upload:{upload.name}"]  # parts are out
        name, digest = upload.commit()
    assert digest == hashlib.sha256(content).hexdigest()
    stored = s3_client().get_object(Bucket=store.bucket, Key=name)
    assert stored["Body"].read() == content
    assert stored["ContentType"] == "application/octet-stream"
    assert bucket_contents(store.bucket) == [name]
    status = store.stat(name)
    assert status is not None and status.st_size == len(content)


def test_a_small_file_is_one_put_with_its_sha256(store: S3Store) -> None:
    with store.begin_upload(64 * MIB, "txt") as upload:
        upload.add(b"abc")
        name, digest = upload.commit()
    assert store.sha256_of(name) == digest == hashlib.sha256(b"abc").hexdigest()
    assert store.sha256_of("0" * 32) is None


def test_an_upload_over_the_limit_is_aborted_and_leaves_nothing(store: S3Store) -> None:
    limit = MIN_PART_SIZE + MIB
    with pytest.raises(UploadTooLarge), store.begin_upload(limit, None) as upload:
        while True:
            if upload.add(b"z" * MIB):
                upload.flush()
    assert bucket_contents(store.bucket) == []


def test_delete_answers_whether_there_was_a_file(store: S3Store) -> None:
    with store.begin_upload(MIB, None) as upload:
        name, _ = upload.commit()
    assert store.delete(name) is True
    assert store.delete(name) is False
    assert bucket_contents(store.bucket) == []
