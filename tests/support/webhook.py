"""A real HTTP server on loopback that records what is POSTed to it: the watcher's alert target
in the tests and the bench (what an ntfy, Slack or Discord server would receive)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Delivery:
    at: float  # time.monotonic() when it arrived
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class Receiver:
    url: str
    deliveries: list[Delivery] = field(default_factory=list)

    def events(self, check: str | None = None) -> list[dict]:
        """The json-format events received, in order (those of one check if named)."""
        found = [d.json() for d in list(self.deliveries)]
        return [e for e in found if check is None or e.get("check") == check]

    def kinds(self, check: str) -> list[str]:
        return [e["event"] for e in self.events(check)]


@contextmanager
def webhook_receiver() -> Iterator[Receiver]:
    """A receiver on a free loopback port, answering 200 to every POST; stopped after the block."""
    receiver = Receiver(url="")
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with lock:
                receiver.deliveries.append(
                    Delivery(time.monotonic(), self.path, dict(self.headers), body)
                )
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/alerts"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
