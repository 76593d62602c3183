"""Archive the storage bucket to stdout, or replace its contents with an archive from stdin.

Usage (inside a container of the storage image, which has boto3 and reads settings.env and the
S3 credentials from its environment; remote_swarm.sh runs it for stack-backup and stack-restore):
    python bucket_archive.py dump > storage.tar.gz
    python bucket_archive.py restore < storage.tar.gz

The archive holds one member per object, named by its key: the same layout as a backup of the
local volume. `restore` uploads every member, then deletes the objects the archive does not hold.
"""

from __future__ import annotations

import os
import sys
import tarfile

import boto3
from botocore.config import Config


def bucket_client():
    return boto3.session.Session().client(
        "s3",
        endpoint_url=os.environ["S3_ENDPOINT"],
        region_name=os.environ.get("S3_REGION") or "us-east-1",
        aws_access_key_id=os.environ["S3_ACCESS_KEY_ID"],
        aws_secret_access_key=os.environ["S3_SECRET_ACCESS_KEY"],
        config=Config(s3={"addressing_style": "path"}),
    )


def keys(s3, bucket: str) -> list[str]:
    found = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        found += [item["Key"] for item in page.get("Contents", [])]
    return found


def dump(s3, bucket: str) -> int:
    # A stream (w|gz): objects go out one after the other, never all in memory or on disk.
    with tarfile.open(fileobj=sys.stdout.buffer, mode="w|gz") as archive:
        for key in keys(s3, bucket):
            body = s3.get_object(Bucket=bucket, Key=key)
            member = tarfile.TarInfo(key)
            member.size = body["ContentLength"]
            member.mtime = int(body["LastModified"].timestamp())
            member.mode = 0o644
            archive.addfile(member, body["Body"])
    return 0


class _Unseekable:
    """A member being read from the stream: boto3 must not seek in it (it uploads in parts)."""

    def __init__(self, member) -> None:
        self.member = member

    def read(self, size: int = -1) -> bytes:
        return self.member.read(size)

    def seekable(self) -> bool:
        return False


def restore(s3, bucket: str) -> int:
    kept = set()
    with tarfile.open(fileobj=sys.stdin.buffer, mode="r|gz") as archive:
        for member in archive:
            if not member.isfile():
                continue
            key = member.name.removeprefix("./")
            s3.upload_fileobj(_Unseekable(archive.extractfile(member)), bucket, key)
            kept.add(key)
    for key in set(keys(s3, bucket)) - kept:
        s3.delete_object(Bucket=bucket, Key=key)
    print(f"restored {len(kept)} files into {bucket}", file=sys.stderr)
    return 0


def main(argv: list[str]) -> int:
    if argv not in (["dump"], ["restore"]):
        print(__doc__, file=sys.stderr)
        return 2
    s3, bucket = bucket_client(), os.environ["S3_BUCKET"]
    return dump(s3, bucket) if argv == ["dump"] else restore(s3, bucket)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
