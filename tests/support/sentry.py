"""A Sentry-protocol receiver on loopback: what sentry-sdk sends, kept raw for the tests to read.

sentry-sdk (in the services) posts envelopes to `<dsn host>/api/<project>/envelope/`, compressed
(gzip, or brotli when that package is installed). This server answers 200 to those posts, as
Sentry and GlitchTip do, and keeps each envelope's bytes decompressed, both whole (to scan for
secrets) and parsed into its items (to find the event and its tags). Nothing here mimics Sentry's
processing: the envelope is what the service put on the wire.
"""

from __future__ import annotations

import gzip
import json
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PROJECT = "42"
PUBLIC_KEY = "0123456789abcdef0123456789abcdef"


@dataclass
class Envelope:
    raw: bytes  # decompressed, as sentry-sdk serialised it
    items: list[dict] = field(default_factory=list)  # each item's payload, when JSON

    @property
    def events(self) -> list[dict]:
        return [item for item in self.items if "exception" in item or "message" in item]


@dataclass
class Receiver:
    port: int
    envelopes: list[Envelope] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def dsn(self) -> str:
        return f"http://{PUBLIC_KEY}@127.0.0.1:{self.port}/{PROJECT}"

    def received(self) -> list[Envelope]:
        with self.lock:
            return list(self.envelopes)


def decompress(body: bytes, encoding: str) -> bytes:
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding == "deflate":
        return zlib.decompress(body)
    if encoding == "br":
        import brotli  # only when sentry-sdk found it installed, so it is here too

        return brotli.decompress(body)
    return body


def parse(raw: bytes) -> list[dict]:
    """An envelope: a header line, then for each item a header line and its payload line."""
    lines = raw.split(b"\n")[1:]
    items = []
    for header, payload in zip(lines[::2], lines[1::2], strict=False):
        try:
            kind, value = json.loads(header).get("type"), json.loads(payload)
        except ValueError:
            continue
        if kind == "event" and isinstance(value, dict):
            items.append(value)
    return items


@contextmanager
def sentry_receiver() -> Iterator[Receiver]:
    """The receiver on a free loopback port, stopped at the end whatever happens."""
    receiver: Receiver

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the name http.server calls
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            if self.path.rstrip("/") != f"/api/{PROJECT}/envelope":
                self.send_response(404)
                self.end_headers()
                return
            raw = decompress(body, self.headers.get("Content-Encoding", ""))
            with receiver.lock:
                receiver.envelopes.append(Envelope(raw=raw, items=parse(raw)))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver = Receiver(port=server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
