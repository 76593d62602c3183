"""Fixtures: a temporary volume, the app in-process (TestClient) and a real uvicorn server."""

import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx2 as httpx
import pytest
from fastapi.testclient import TestClient

TOKEN = secrets.token_hex(32)
# app.main builds the app at import: give it valid settings that are never the deployment's.
os.environ.update(STORAGE_TOKEN=TOKEN, STORAGE_DIR="/nonexistent-storage-dir-for-tests")

from app.config import Settings  # noqa: E402
from app.main import create_app  # noqa: E402

SERVICE_DIR = Path(__file__).resolve().parents[1]
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def make_settings(volume: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "ENVIRONMENT": "production",
        "STORAGE_TOKEN": TOKEN,
        "STORAGE_DIR": volume,
        "MAX_UPLOAD_MB": 1,
        "STORAGE_ACCEL_REDIRECT": False,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


@pytest.fixture
def volume(tmp_path: Path) -> Path:
    return tmp_path / "volume"


@pytest.fixture
def client(volume: Path) -> Iterator[TestClient]:
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
    port = free_port()
    environment = {
        **os.environ,
        "ENVIRONMENT": "production",
        "STORAGE_TOKEN": TOKEN,
        "STORAGE_DIR": str(volume),
        "MAX_UPLOAD_MB": "1",
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
def live_server(volume: Path, live_server_factory: Callable[..., LiveServer]) -> LiveServer:
    return live_server_factory(volume)


def wait_until(condition: Callable[[], bool], timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()
