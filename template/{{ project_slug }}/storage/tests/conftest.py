"""Fixtures: a temporary volume or bucket, the app in-process (TestClient), a real uvicorn server.

Tests that take `backend` (or `client`) run twice: on a local volume, and on a fresh bucket of the
S3-compatible store named by STORAGE_TEST_S3_ENDPOINT, _REGION, _ACCESS_KEY_ID and
_SECRET_ACCESS_KEY (the template's tests start a SeaweedFS for it). Without those variables the
S3 runs are skipped, with that reason.
"""

import os
import re
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx2 as httpx
import pytest
from fastapi.testclient import TestClient

TOKEN = secrets.token_hex(32)
# app.main builds the app at import: give it valid settings that are never the deployment's.
os.environ.update(STORAGE_TOKEN=TOKEN, STORAGE_DIR="/nonexistent-storage-dir-for-tests")

from app import links  # noqa: E402
from app.config import Settings  # noqa: E402
from app.main import create_app  # noqa: E402

SERVICE_DIR = Path(__file__).resolve().parents[1]
AUTH = {"Authorization": f"Bearer {TOKEN}"}


S3_TEST_VARIABLES = ("ENDPOINT", "REGION", "ACCESS_KEY_ID", "SECRET_ACCESS_KEY")
S3_TEST_ENV = {name: os.environ.get(f"STORAGE_TEST_S3_{name}", "") for name in S3_TEST_VARIABLES}
HTTP_DATE = re.compile(
    r"[A-Z][a-z]{2}, [0-9]{2} [A-Z][a-z]{2} [0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} GMT"
)
NO_S3_REASON = (
    "no S3-compatible store to test against: set STORAGE_TEST_S3_ENDPOINT, _REGION, "
    "_ACCESS_KEY_ID and _SECRET_ACCESS_KEY (a test bucket is created and removed)"
)


def make_settings(volume: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "ENVIRONMENT": "production",
        "STORAGE_TOKEN": TOKEN,
        "STORAGE_DIR": volume,
        "MAX_UPLOAD_MB": 1,
        "STORAGE_ACCEL_REDIRECT": False,
        "UI_LANGUAGE": "en",  # tests/test_languages.py tries French
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


def s3_env(bucket: str) -> dict[str, str]:
    """The service's environment for STORAGE_BACKEND=s3 on `bucket` of the test store."""
    return {
        "STORAGE_BACKEND": "s3",
        "STORAGE_ACCEL_REDIRECT": "true",
        "S3_BUCKET": bucket,
        **{f"S3_{name}": value for name, value in S3_TEST_ENV.items()},
    }


def s3_client():  # noqa: ANN201 (boto3 clients have no static type)
    """The test store, signed with the test credentials, path-style as the service uses it."""
    import boto3
    from botocore.config import Config

    return boto3.session.Session().client(
        "s3",
        endpoint_url=S3_TEST_ENV["ENDPOINT"],
        region_name=S3_TEST_ENV["REGION"],
        aws_access_key_id=S3_TEST_ENV["ACCESS_KEY_ID"],
        aws_secret_access_key=S3_TEST_ENV["SECRET_ACCESS_KEY"],
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )


def bucket_contents(bucket: str) -> list[str]:
    """Every object of the bucket, and every multipart upload still open (`upload:<key>`)."""
    s3 = s3_client()
    objects = s3.list_objects_v2(Bucket=bucket).get("Contents", [])
    uploads = s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    return sorted([o["Key"] for o in objects] + [f"upload:{u['Key']}" for u in uploads])


@pytest.fixture
def bucket() -> Iterator[str]:
    """A new empty bucket of the test store, removed with whatever is left in it."""
    if not S3_TEST_ENV["ENDPOINT"]:
        pytest.skip(NO_S3_REASON)
    name = f"storage-test-{secrets.token_hex(6)}"
    s3 = s3_client()
    s3.create_bucket(Bucket=name)
    yield name
    for upload in s3.list_multipart_uploads(Bucket=name).get("Uploads", []):
        s3.abort_multipart_upload(Bucket=name, Key=upload["Key"], UploadId=upload["UploadId"])
    for stored in s3.list_objects_v2(Bucket=name).get("Contents", []):
        s3.delete_object(Bucket=name, Key=stored["Key"])
    s3.delete_bucket(Bucket=name)


@dataclass
class Backend:
    """Where the service under test keeps files, and how a test looks inside it."""

    name: str
    volume: Path
    bucket: str = ""

    def settings(self, **overrides: object) -> Settings:
        if self.name == "s3":
            return make_settings(self.volume, **{**s3_env(self.bucket), **overrides})
        return make_settings(self.volume, **overrides)

    def env(self) -> dict[str, str]:
        return s3_env(self.bucket) if self.name == "s3" else {}

    def stored(self) -> list[str]:
        """Everything kept: files of the volume (temporary ones included), or the bucket's
        objects and open multipart uploads."""
        if self.name == "s3":
            return bucket_contents(self.bucket)
        return [str(path.relative_to(self.volume)) for path in stored_files(self.volume)]


@pytest.fixture
def volume(tmp_path: Path) -> Path:
    return tmp_path / "volume"


@pytest.fixture(params=["local", "s3"])
def backend(request: pytest.FixtureRequest, volume: Path) -> Backend:
    if request.param == "s3":
        return Backend("s3", volume, request.getfixturevalue("bucket"))
    return Backend("local", volume)


@pytest.fixture
def client(backend: Backend) -> Iterator[TestClient]:
    with TestClient(create_app(backend.settings())) as test_client:
        yield test_client


OWNER = "0b5e7c1e-2d4a-4f60-9a1b-3c5d7e9f1a2b"
LINK_SECONDS = 600


def signed(path: str, *, owner: str = OWNER, lifetime: int = LINK_SECONDS) -> str:
    """`path` as a download link the backend would make (see app/links.py)."""
    name = path.rsplit("/", 1)[-1]
    expires = int(time.time()) + lifetime
    key = links.signing_key(TOKEN)
    mac = links.signature(key, name=name, owner=owner, expires=expires)
    return f"{path}?{urlencode({'owner': owner, 'expires': expires, 'signature': mac})}"


def wait_until_expired(link: str) -> None:
    """Sleep until the service's clock (whole seconds, see app/links.py) counts `link` expired:
    a real expiry, whatever the fraction of a second the link was signed at."""
    expires = int(parse_qs(urlsplit(link).query)["expires"][0])
    while int(time.time()) < expires:
        time.sleep(expires - time.time() + 0.01)


def download(
    client: TestClient | httpx.Client, path: str, method: str = "GET", **headers: str
) -> httpx.Response:
    """A download as the edge answers it, by a valid link unless `path` has a query of its own.
    With S3 the service answers an X-Accel-Redirect to a
    presigned URL; this does what nginx does with it (fetch it with the client's Range and
    conditional headers, keep the service's safe headers), so one test checks both backends.
    The real nginx does it in the template's end-to-end tests."""
    response = client.request(method, path if "?" in path else signed(path), headers=headers)
    target = response.headers.get("x-accel-redirect", "")
    if not target.startswith("/_storage_s3/"):
        return response
    url = S3_TEST_ENV["ENDPOINT"] + target.removeprefix("/_storage_s3")
    assert urlsplit(url).query, "a presigned target carries its signature in the query"
    # As the edge does: an If-Modified-Since that is not an HTTP date is ignored (RFC 9110), not
    # sent on to the store (some answer 400).
    since = headers.get("If-Modified-Since")
    if since is not None and not HTTP_DATE.fullmatch(since):
        headers = {key: value for key, value in headers.items() if key != "If-Modified-Since"}
    fetched = httpx.request(method, url, headers=headers, timeout=30)
    kept = ("content-type", "content-disposition", "content-security-policy",
            "x-content-type-options", "cache-control")  # fmt: skip
    merged = {**fetched.headers, **{key: response.headers[key] for key in kept}}
    return httpx.Response(fetched.status_code, headers=merged, content=fetched.content)


@pytest.fixture
def local_client(volume: Path) -> Iterator[TestClient]:
    """The local volume only, for what only a volume has (paths, permissions, unmounting)."""
    with TestClient(create_app(make_settings(volume))) as test_client:
        yield test_client


@pytest.fixture
def accel_client(volume: Path) -> Iterator[TestClient]:
    with TestClient(create_app(make_settings(volume, STORAGE_ACCEL_REDIRECT=True))) as test_client:
        yield test_client


def stored_files(volume: Path) -> list[Path]:
    """Every file in the volume, temporary ones included."""
    return sorted(path for path in volume.rglob("*") if path.is_file())


def upload(
    client: TestClient | httpx.Client, content: bytes, filename: str = "notes.txt", **headers: str
) -> httpx.Response:
    return client.post(
        "/storage/upload",
        params={"filename": filename},
        content=content,
        headers={**AUTH, **headers},
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LiveServer:
    """uvicorn started the way deployments start it, on a loopback port."""

    process: subprocess.Popen
    port: int
    volume: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def peak_rss_kib(self) -> int:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        peak = next(line for line in status.splitlines() if line.startswith("VmHWM:"))
        return int(peak.split()[1])


def start_server(volume: Path, *, wrapper: list[str] | None = None, **env: str) -> LiveServer:
    """uvicorn on a free port, settings from the environment (`env` overrides them)."""
    port = free_port()
    environment = {
        **os.environ,
        "ENVIRONMENT": "production",
        "STORAGE_TOKEN": TOKEN,
        "STORAGE_DIR": str(volume),
        "MAX_UPLOAD_MB": "1",
        "UI_LANGUAGE": "en",
        "STORAGE_ACCEL_REDIRECT": "false",
        **env,
    }
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "app.main:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    process = subprocess.Popen([*(wrapper or []), *command], cwd=SERVICE_DIR, env=environment)
    server = LiveServer(process, port, volume)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"uvicorn exited with {process.returncode} before it was ready")
        try:
            if httpx.get(f"{server.url}/storage/health", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("uvicorn did not answer /storage/health within 20 s")


def stop_server(server: LiveServer) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


@pytest.fixture
def live_server_factory() -> Iterator[Callable[..., LiveServer]]:
    servers: list[LiveServer] = []

    def factory(volume: Path, **kwargs: object) -> LiveServer:
        servers.append(start_server(volume, **kwargs))
        return servers[-1]

    yield factory
    for server in servers:
        stop_server(server)


@pytest.fixture
def live_server(backend: Backend, live_server_factory: Callable[..., LiveServer]) -> LiveServer:
    return live_server_factory(backend.volume, **backend.env())


def wait_until(condition: Callable[[], bool], timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()
