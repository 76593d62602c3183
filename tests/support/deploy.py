"""A server to deploy to: sshd with a deploy account on the tests' Docker engine, and Pebble as
its ACME server, for the deploy layer and the production benchmark.

The deployment folder starts with a compose.override.yaml, the way an operator makes site-specific
changes that the deploy scripts never overwrite: certbot asks Pebble (which it reaches at the
stack network's gateway, trusting Pebble's listener CA) and nginx's certificate watcher looks every
second. Pebble validates HTTP-01 for real on port 80, which the containerised edge publishes.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from support.docker.engine import Engine
from support.edge import make_test_ca
from support.pebble import start_pebble
from support.processes import stop_process
from support.sshd import SshServer, ssh_server

# compose.yaml's default subnet is 172.30.57.0/24: its gateway is where containers reach this host.
GATEWAY = "172.30.57.1"


@contextlib.contextmanager
def server_with_acme(base: Path, engine: Engine) -> Iterator[tuple[SshServer, Path]]:
    """Yields the server and Pebble's root certificate (what browsers would trust)."""
    listener = make_test_ca(base / "pebble-tls", ["localhost", "127.0.0.1", GATEWAY])
    root = base / "pebble-root.pem"
    processes: list[subprocess.Popen] = []
    try:
        # All addresses: certbot's container reaches Pebble at the stack network's gateway, an
        # address that exists only once deploy_bdd has made the network.
        any_address = "0.0.0.0"  # noqa: S104
        acme_url = start_pebble(base, 80, listener, root, processes, listen_host=any_address)
        with ssh_server(base / "sshd", engine) as server:
            server.remote_dir.mkdir(parents=True)
            (server.remote_dir / "compose.override.yaml").write_text(
                "# Site-specific: certbot asks the test ACME server, nginx checks often.\n"
                "services:\n"
                "  certbot:\n"
                "    environment:\n"
                f"      ACME_SERVER: {acme_url.replace('localhost', GATEWAY)}\n"
                "      REQUESTS_CA_BUNDLE: /etc/ssl/acme-server-ca.pem\n"
                "    volumes:\n"
                f"      - {listener[0]}:/etc/ssl/acme-server-ca.pem:ro\n"
                "  nginx:\n"
                "    environment:\n"
                '      CERTIFICATE_CHECK_SECONDS: "1"\n'
            )
            for folder in (server.home / "srv", server.remote_dir):
                shutil.chown(folder, server.user, server.user)
            try:
                yield server, root
            finally:
                engine.compose(
                    server.remote_dir, "down", "--volumes", "--timeout", "30", check=False
                )
                # The shared edge, if a test made one (test_sites_shared.py), after its sites.
                engine.docker("rm", "--force", "closo-edge", check=False)
                engine.docker("network", "rm", "closo-edge", check=False)
    finally:
        for process in reversed(processes):
            stop_process(process)


@dataclass(frozen=True)
class Answer:
    """One visitor request during a deploy: when it started (s after the load began), how long it
    took, and what came back (status 0: no HTTP answer at all)."""

    started: float
    seconds: float
    status: int
    content_type: str
    retry_after: str | None
    body: str


@contextlib.contextmanager
def steady_load(
    client: Callable[[], httpx.Client],
    path: str,
    headers: dict[str, str],
    pause: float = 0.05,
    limit: int = 20_000,
) -> Iterator[list[Answer]]:
    """A visitor reading `path` in a loop (one keep-alive connection, a short pause between
    requests) while the block runs; yields the list the answers go into, complete on exit."""
    answers: list[Answer] = []
    stop = threading.Event()
    began = time.monotonic()

    def visit() -> None:
        with client() as session:
            while not stop.is_set() and len(answers) < limit:
                started = time.monotonic()
                try:
                    got = session.get(path, headers=headers, timeout=30)
                    answer = Answer(
                        started - began,
                        time.monotonic() - started,
                        got.status_code,
                        got.headers.get("content-type", ""),
                        got.headers.get("retry-after"),
                        got.text[:200],
                    )
                except httpx.HTTPError as error:
                    answer = Answer(
                        started - began, time.monotonic() - started, 0, "", None, repr(error)
                    )
                answers.append(answer)
                time.sleep(pause)

    visitor = threading.Thread(target=visit, daemon=True)
    visitor.start()
    try:
        yield answers
    finally:
        stop.set()
        visitor.join(timeout=60)


def swap_window(answers: list[Answer], slow_seconds: float = 1.0) -> dict[str, object]:
    """What a visitor saw: counts by status, and the window of failed or slow answers (from the
    first such answer's start to the last one's end)."""
    statuses: dict[str, int] = {}
    for answer in answers:
        statuses[str(answer.status)] = statuses.get(str(answer.status), 0) + 1
    bad = [a for a in answers if a.status != 200 or a.seconds >= slow_seconds]
    window = (max(a.started + a.seconds for a in bad) - min(a.started for a in bad)) if bad else 0
    return {
        "requests": len(answers),
        "statuses": statuses,
        "failed": sum(1 for a in answers if a.status != 200),
        "slow": sum(1 for a in answers if a.status == 200 and a.seconds >= slow_seconds),
        "slowest_s": round(max((a.seconds for a in answers), default=0), 2),
        "window_s": round(window, 2),
        "failed_as_json_503_with_retry_after": sum(
            1
            for a in answers
            if a.status == 503 and a.content_type == "application/json" and a.retry_after
        ),
        "failed_at_s": [round(a.started, 1) for a in answers if a.status != 200][:20],
    }
