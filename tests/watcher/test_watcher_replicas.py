"""The watcher's 5xx and p95 checks on a service of several replicas behind one name, as a swarm
runs them (endpoint_mode dnsrr: the name resolves to every replica's address).

Real parts: two loopback HTTP servers on the same port play two replicas of the backend, one on
127.0.0.1 and one on ::1, serving the backend's metric families (`http_requests_total` by status,
`http_request_duration_seconds` buckets) with counters the test sets; the watcher of the rendered
project reads them at http://localhost:PORT/metrics, where localhost resolves to both addresses.
Its rounds are the watcher's own (`Watcher.round()`, what `python -m watcher run` calls every
interval) in a process of their own that runs one each time the test says, so the counters change
between rounds only; what the operator sees is read from `python -m watcher status` and from the
alerts a real webhook receives (support/webhook.py).

Name resolution: that process runs in a mount namespace of its own (`unshare --mount`, as root,
like this layer's tmpfs) whose /etc/hosts names localhost as Debian's does, 127.0.0.1 and ::1; a
container's or a CI machine's /etc/hosts may lack the ::1 line (this one's did), and resolving
through the real resolver is the point. Where IPv6 loopback is unavailable, the second replica
binds 127.0.0.2 and that file gives localhost 127.0.0.1 and 127.0.0.2. The same file names
`backend` at 127.0.0.1 only: compose's case, one container behind the name.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from support.webhook import Receiver, webhook_receiver

pytestmark = pytest.mark.watcher

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)  # the backend's
FAST_S, SLOW_S = 0.04, 3.0
LABELS = 'service="backend",method="GET",route="/api/items"'

# The rounds, in the watcher's own process: one per line the test writes.
DRIVER = """
import sys
from watcher.__main__ import Watcher
from watcher.config import load

watcher = Watcher(load())
for _ in sys.stdin:
    watcher.round()
    print("round", flush=True)
"""


@dataclass
class Replica:
    """One replica's counters, as its /metrics exposes them, and the Host headers it was sent."""

    address: str
    answered: dict[str, int] = field(default_factory=dict)  # status -> requests
    durations: dict[float, int] = field(default_factory=dict)  # seconds -> requests
    hosts: list[str] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    def answer(self, count: int, status: str = "200", seconds: float = FAST_S) -> None:
        self.answered[status] = self.answered.get(status, 0) + count
        self.durations[seconds] = self.durations.get(seconds, 0) + count

    def restart(self) -> None:
        """A new process: its counters start again from nothing."""
        self.answered, self.durations = {}, {}

    def exposition(self) -> str:
        lines = ["# TYPE http_requests_total counter"]
        for status, count in self.answered.items():
            lines.append(f'http_requests_total{{{LABELS},status="{status}"}} {float(count)}')
        # The watcher's own probes: never a visitor's request, left out of the figures.
        health = 'service="backend",method="GET",route="/api/health/ready",status="503"'
        lines.append(f"http_requests_total{{{health}}} 7.0")
        lines.append("# TYPE http_request_duration_seconds histogram")
        for bound in (*BUCKETS, float("inf")):
            below = sum(n for seconds, n in self.durations.items() if seconds <= bound)
            le = "+Inf" if bound == float("inf") else str(bound)
            bucket = f'http_request_duration_seconds_bucket{{{LABELS},le="{le}"}}'
            lines.append(f"{bucket} {float(below)}")
        return "\n".join(lines) + "\n"

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


def serve(replica: Replica, port: int) -> None:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            replica.hosts.append(self.headers["Host"])
            body = replica.exposition().encode()
            self.send_response(200 if self.path == "/metrics" else 404)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    class Server(ThreadingHTTPServer):
        address_family = socket.AF_INET6 if ":" in replica.address else socket.AF_INET

    replica.server = Server((replica.address, port), Handler)
    threading.Thread(target=replica.server.serve_forever, daemon=True).start()


def second_loopback() -> str:
    """::1, or 127.0.0.2 where IPv6 loopback is unavailable."""
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
        return "::1"
    except OSError:
        return "127.0.0.2"


@pytest.fixture
def replicas(tmp_path: Path) -> Iterator[tuple[Replica, Replica, int, Path]]:
    """Two replicas on one port (127.0.0.1, and ::1 or 127.0.0.2), and the /etc/hosts the watcher
    sees."""
    first, second = Replica("127.0.0.1"), Replica(second_loopback())
    for _ in range(20):  # the port free on 127.0.0.1 may be taken on the other address
        serve(first, 0)
        port = first.server.server_address[1]
        try:
            serve(second, port)
            break
        except OSError:
            first.stop()
    else:
        raise AssertionError(f"no port free on both 127.0.0.1 and {second.address}")
    hosts = tmp_path / "hosts"
    hosts.write_text(f"127.0.0.1 localhost backend\n{second.address} localhost\n")
    yield first, second, port, hosts
    first.stop()
    second.stop()


class Rounds:
    """The rendered watcher's rounds, each when the test says, and what `status` prints."""

    def __init__(self, project: Path, hosts: Path, url: str, receiver: Receiver, tmp: Path):
        self.folder = next(project.glob("*/watcher"))
        self.env = {
            "PATH": os.environ["PATH"],
            "WATCH_STATE_FILE": str(tmp / "state.json"),
            "WATCH_METRICS": f"backend={url}",
            "ALERT_WEBHOOK_URL": receiver.url,
            "MEMORY_ALERT_PERCENT": "0",  # this machine's memory is not what is tested
        }
        self.errors = (tmp / "watcher.err").open("w+")
        self.process = subprocess.Popen(
            ["unshare", "--mount", "--", "sh", "-c", 'mount --bind "$0" /etc/hosts && exec "$@"',
             str(hosts), sys.executable, "-c", DRIVER],
            cwd=self.folder, env=self.env, text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.errors,
        )  # fmt: skip

    def round(self) -> None:
        self.process.stdin.write("\n")
        self.process.stdin.flush()
        # Its stdout also carries the events it logs (one JSON line each, for the container's log).
        while (line := self.process.stdout.readline()) != "round\n":
            if not line:
                self.errors.seek(0)
                raise AssertionError(
                    f"the watcher's rounds stopped (unshare and mount need root):\n"
                    f"{self.errors.read()}"
                )

    def status(self) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "watcher", "status"],
            cwd=self.folder, env=self.env, capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        return result.stdout

    def summaries(self) -> dict[str, str]:
        checks = json.loads(Path(self.env["WATCH_STATE_FILE"]).read_text())["checks"]
        return {key: checks[key]["summary"] for key in ("errors:backend", "latency:backend")}

    def close(self) -> None:
        self.process.stdin.close()  # its loop ends with its input
        self.process.wait(timeout=10)
        self.process.stdout.close()
        self.errors.close()


@pytest.fixture
def watcher(rendered_project: Path, replicas, tmp_path: Path):
    """rounds(url) -> (Rounds, Receiver): the watcher reading url, its alerts' receiver."""
    with ExitStack() as stack:

        def rounds(url: str) -> tuple[Rounds, Receiver]:
            receiver = stack.enter_context(webhook_receiver())
            found = Rounds(rendered_project, replicas[3], url, receiver, tmp_path)
            stack.callback(found.close)
            return found, receiver

        yield rounds


def test_one_replica_erring_alerts_on_the_share_of_all_replicas(replicas, watcher):
    """Replicas far apart in totals (one up for days, one just started): each is read at its own
    address with the URL's Host, and the 5 minutes' figures add both: 10 slow 5xx on one replica
    and 90 fast answers on the other are 10 % of 100 requests and a p95 of 3.75 s (neither
    replica's alone: 100 % and 4.9 s, 0 % and 49 ms)."""
    first, second, port, _ = replicas
    first.answer(100_000)
    second.answer(20)
    rounds, receiver = watcher(f"http://localhost:{port}/metrics")
    rounds.round()
    few = "under 20 requests in 5 minutes, too few to judge (2 of 2 replicas)"
    assert rounds.summaries()["errors:backend"] == f"backend 5xx rate: {few}"

    first.answer(90)
    second.answer(10, status="500", seconds=SLOW_S)
    rounds.round()
    errors = "backend: 10.0 % of 100 requests answered 5xx in 5 minutes (2 of 2 replicas)"
    latency = "backend: p95 latency 3750 ms over 5 minutes (2 of 2 replicas)"
    assert [e["summary"] for e in receiver.events("errors:backend")] == [errors]
    assert [e["summary"] for e in receiver.events("latency:backend")] == [latency]
    shown = rounds.status()
    assert shown.startswith("watcher: 2 problem(s): "), shown
    assert f"FAIL {errors} (since " in shown and f"FAIL {latency} (since " in shown
    assert first.hosts == second.hosts == [f"localhost:{port}"] * 2  # one scrape a round each


def test_a_restart_of_one_replica_starts_its_window_again_and_keeps_the_others(replicas, watcher):
    """Different totals are no restart: the second round counts both replicas' requests. When one
    replica restarts (its counters back near zero), the other's 5 minutes still count: its 10
    errors alert at once; the restarted one's requests count again from its next round."""
    first, second, port, _ = replicas
    first.answer(100_000)
    second.answer(20)
    rounds, receiver = watcher(f"http://localhost:{port}/metrics")
    rounds.round()
    first.answer(60)
    second.answer(40)
    rounds.round()
    calm = "backend: 0.0 % of 100 requests answered 5xx in 5 minutes (2 of 2 replicas)"
    assert rounds.summaries()["errors:backend"] == calm
    assert f"ok   {calm}\n" in rounds.status()

    second.restart()
    second.answer(5)
    first.answer(30)
    first.answer(10, status="500")
    rounds.round()
    kept = "backend: 10.0 % of 100 requests answered 5xx in 5 minutes (2 of 2 replicas)"
    assert [e["summary"] for e in receiver.events("errors:backend")] == [kept]

    second.answer(20)
    rounds.round()
    again = "backend: 8.3 % of 120 requests answered 5xx in 5 minutes (2 of 2 replicas)"
    assert rounds.summaries()["errors:backend"] == again
    assert f"FAIL {again} (since " in rounds.status()


def test_a_replica_that_does_not_answer_is_left_out_and_counted(replicas, watcher):
    """One replica stops answering while the other does: the figures are the answering one's,
    and the sentence says how many answered."""
    first, second, port, _ = replicas
    first.answer(1000)
    second.answer(1000)
    rounds, receiver = watcher(f"http://localhost:{port}/metrics")
    rounds.round()
    second.stop()
    first.answer(90)
    first.answer(10, status="500")
    rounds.round()
    errors = "backend: 10.0 % of 100 requests answered 5xx in 5 minutes (1 of 2 replicas)"
    assert [e["summary"] for e in receiver.events("errors:backend")] == [errors]
    assert f"FAIL {errors} (since " in rounds.status()


def test_one_container_behind_the_name_reads_as_before(replicas, watcher):
    """Compose's case: `backend` resolves to one address. The sentences name no replicas, and a
    restart starts the 5 minutes again, as the watcher always did."""
    first, _, port, _ = replicas
    first.answer(500)
    rounds, receiver = watcher(f"http://backend:{port}/metrics")
    rounds.round()
    first.answer(90)
    first.answer(10, status="500", seconds=SLOW_S)
    rounds.round()
    assert rounds.summaries() == {
        "errors:backend": "backend: 10.0 % of 100 requests answered 5xx in 5 minutes",
        "latency:backend": "backend: p95 latency 3750 ms over 5 minutes",
    }
    assert len(receiver.events("errors:backend")) == 1
    assert first.hosts == [f"backend:{port}"] * 2

    first.restart()
    first.answer(3)
    rounds.round()
    few = "under 20 requests in 5 minutes, too few to judge"
    assert rounds.summaries() == {
        "errors:backend": f"backend 5xx rate: {few}",
        "latency:backend": f"backend p95 latency: {few}",
    }
    assert receiver.kinds("errors:backend") == ["alert", "recovery"]
