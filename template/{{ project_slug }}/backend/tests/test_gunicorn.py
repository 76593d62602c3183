"""gunicorn.conf.py: the worker count as BACKEND_WORKERS says, and a stop that lets requests finish.

The server test starts the image's command (`gunicorn -c gunicorn.conf.py app.main:app`) on the
suite's database, sends a sign-in whose body arrives slowly, stops the server with SIGTERM (what
`docker stop` and a deploy send) while that request is in flight, and then finishes the body.
"""

from __future__ import annotations

import json
import os
import runpy
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from app.core.config import settings

BACKEND = Path(__file__).resolve().parents[1]
CONFIG = BACKEND / "gunicorn.conf.py"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def children(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


@pytest.fixture
def load_config(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[], dict]]:
    """Runs gunicorn.conf.py as gunicorn does. It sets PROMETHEUS_MULTIPROC_DIR to a fresh folder
    for the server it configures: this test's process gets its own value back afterwards (unset),
    and the folder goes, or the rest of the suite's /metrics would read that empty folder."""
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "")  # undone (unset again) after the test
    made: list[str] = []
    real_mkdtemp = tempfile.mkdtemp

    def mkdtemp(*args, **kwargs) -> str:
        made.append(real_mkdtemp(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(tempfile, "mkdtemp", mkdtemp)
    yield lambda: runpy.run_path(str(CONFIG))
    for folder in made:
        shutil.rmtree(folder, ignore_errors=True)


def test_the_config_forks_backend_workers_after_import_and_tells_them_the_count(
    monkeypatch: pytest.MonkeyPatch, load_config: Callable[[], dict]
) -> None:
    monkeypatch.setenv("BACKEND_WORKERS", "3")
    monkeypatch.delenv("WEB_CONCURRENCY", raising=False)
    config = load_config()
    assert config["workers"] == 3 and os.environ["WEB_CONCURRENCY"] == "3"
    assert config["preload_app"] is True
    assert config["worker_class"] == "uvicorn_worker.UvicornWorker"
    assert config["graceful_timeout"] < 10  # Docker kills a container 10 s after SIGTERM
    assert config["keepalive"] > 4  # the edge closes its idle connections after 4 s
    # The workers' metrics go to a fresh folder of this start, which /metrics sums.
    metrics_dir = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    assert metrics_dir.is_dir() and not any(metrics_dir.iterdir())


def test_a_bad_worker_count_stops_the_start_with_the_fix(
    monkeypatch: pytest.MonkeyPatch, load_config: Callable[[], dict]
) -> None:
    monkeypatch.setenv("BACKEND_WORKERS", "four")
    with pytest.raises(SystemExit, match="BACKEND_WORKERS='four': use a whole number"):
        load_config()


@pytest.fixture
def server() -> tuple[subprocess.Popen, int]:
    port = free_port()
    process = subprocess.Popen(  # noqa: S603 - a fixed command: the image's own
        [sys.executable, "-m", "gunicorn", "-c", str(CONFIG), "app.main:app",
         "--bind", f"127.0.0.1:{port}"],
        cwd=BACKEND,
        env={**os.environ, "BACKEND_WORKERS": "2"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1).is_success:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        assert process.poll() is None, process.communicate()[0].decode()[-3000:]
        yield process, port
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=30)


def test_a_request_in_flight_when_the_server_is_stopped_completes(
    server: tuple[subprocess.Popen, int],
) -> None:
    process, port = server
    assert len(children(process.pid)) == 2  # BACKEND_WORKERS=2: two workers under gunicorn
    body = urllib.parse.urlencode(
        {"username": settings.FIRST_ADMIN_EMAIL, "password": settings.FIRST_ADMIN_PASSWORD}
    ).encode()
    head = (
        f"POST /api/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=20) as client:
        client.sendall(head + body[:10])
        time.sleep(0.5)  # the worker holds the request and waits for the rest of its body
        process.send_signal(signal.SIGTERM)
        time.sleep(1.5)
        assert process.poll() is None  # still serving the request it holds
        # No new connection is accepted meanwhile.
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=2)
        client.sendall(body[10:])
        answer = b""
        while chunk := client.recv(65536):
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line == b"HTTP/1.1 200 OK", answer[:500]
    assert json.loads(rest.partition(b"\r\n\r\n")[2])["access_token"]
    assert process.wait(timeout=15) == 0
