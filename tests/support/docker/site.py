"""HTTP clients for a site served by the containerised edge on this machine's ports 80 and 443.

The edge answers only its own names (others get no answer, or a refused TLS handshake), so every
request carries the site's domain as Host and as TLS server name while connecting to 127.0.0.1:
no DNS or /etc/hosts involved.
"""

from __future__ import annotations

import socket
import ssl

import httpx


class _ServerName(httpx.HTTPTransport):
    def __init__(self, server_name: str, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.server_name = server_name

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.extensions["sni_hostname"] = self.server_name
        return super().handle_request(request)


def https_client(
    domain: str,
    verify: ssl.SSLContext | bool = False,
    address: str = "127.0.0.1",
    port: int = 443,
    timeout: float = 30,
) -> httpx.Client:
    """A client for https://<domain>/ at address:port (self-signed placeholder: verify=False)."""
    return httpx.Client(
        base_url=f"https://{address}:{port}",
        headers={"Host": domain},
        transport=_ServerName(domain, verify=verify),
        timeout=timeout,
    )


def http_get(domain: str, path: str) -> httpx.Response:
    return httpx.get(f"http://127.0.0.1{path}", headers={"Host": domain}, timeout=10)


def served_certificate(domain: str) -> bytes:
    """The DER certificate the edge presents for `domain` (not verified)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with (
        socket.create_connection(("127.0.0.1", 443), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=domain) as tls,
    ):
        return tls.getpeercert(binary_form=True)


def port_is_closed(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(3)
        return sock.connect_ex((host, port)) != 0
