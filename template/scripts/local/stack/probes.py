"""Health probes: an HTTP(S) answer, the certificate the edge presents."""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import time
import urllib.parse
from pathlib import Path


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to 127.0.0.1 with the site's name as SNI and Host, whatever DNS says of that name."""

    def __init__(self, address: str, server_name: str, port: int, timeout: float):
        # A probe of our own local (often self-signed) certificate: nothing to verify it against.
        context = ssl._create_unverified_context()  # noqa: S323
        super().__init__(server_name, port, timeout=timeout, context=context)
        self.address = address

    def connect(self) -> None:
        sock = socket.create_connection((self.address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def http_ok(url: str, server_name: str | None = None, timeout: float = 2) -> bool:
    """True when url answers 2xx/3xx; for https, server_name is sent as SNI and Host."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "https":
        conn: http.client.HTTPConnection = _PinnedHTTPSConnection(
            parts.hostname, server_name or parts.hostname, parts.port or 443, timeout
        )
    else:
        conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout)
    try:
        conn.request("GET", parts.path or "/")
        return 200 <= conn.getresponse().status < 400
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def served_certificate(port: int, server_name: str) -> bytes | None:
    """DER of the certificate the edge presents for server_name (None if it does not answer)."""
    context = ssl._create_unverified_context()  # noqa: S323 - we compare bytes, not trust
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=2) as sock,
            context.wrap_socket(sock, server_hostname=server_name) as tls,
        ):
            return tls.getpeercert(binary_form=True)
    except OSError:
        return None


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """Something accepts connections on host:port (a server without an HTTP check)."""
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def watcher_fresh(state_file: Path) -> bool:
    """The watcher's own health check: it recorded a round lately (python -m watcher health)."""
    try:
        state = json.loads(state_file.read_text())
        return time.time() - state["updated_s"] <= 3 * state.get("interval", 60) + 30
    except (OSError, ValueError, KeyError, TypeError):
        return False
