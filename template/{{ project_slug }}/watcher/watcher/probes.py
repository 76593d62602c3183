"""What the watcher asks over the network: an HTTP answer, a name's addresses, the edge's
certificate."""

from __future__ import annotations

import datetime as dt
import http.client
import socket
import ssl
import urllib.parse
import urllib.request

TIMEOUT_S = 5


def http_get(url: str, timeout: float = TIMEOUT_S, host: str = "") -> tuple[int, bytes]:
    """Status and body of a GET (an HTTP error status is an answer, not an exception). `host`:
    the Host header when url names one address of a host (see replicas)."""
    headers = {"User-Agent": "watcher", **({"Host": host} if host else {})}
    # config.py accepts only http(s) URLs.
    request = urllib.request.Request(url, headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310
            return answer.status, answer.read(4_000_000)
    except urllib.error.HTTPError as error:
        return error.code, error.read(64_000)


def replicas(url: str) -> dict[str, str]:
    """Each address url's host resolves to -> url with that address in place of the host. In a
    swarm a service's name (endpoint_mode dnsrr) resolves to every replica's address; compose's
    to its one container. Raises OSError when the name does not resolve (no replica running)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "http":
        return {parts.netloc: url}  # HTTPS checks the certificate against the name, not an address
    port = parts.port or 80
    found = {}
    for *_, sockaddr in socket.getaddrinfo(parts.hostname or "", port, type=socket.SOCK_STREAM):
        address = sockaddr[0]
        netloc = f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
        found[address] = parts._replace(netloc=netloc).geturl()
    return found


def edge_answer(
    url: str, site: str, timeout: float = TIMEOUT_S, proxy_protocol: bool = False
) -> tuple[int, bytes]:
    """A GET to the edge at url's address, with the site's name as SNI and Host; returns the
    status and the certificate the edge presented (DER). Not verified: the days left are what is
    checked, and an expired or placeholder certificate must still be read. `proxy_protocol`: the
    connection starts with a PROXY protocol v1 header that names no client (UNKNOWN)."""
    parts = urllib.parse.urlsplit(url)
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection((parts.hostname, parts.port or 443), timeout) as raw:
        if proxy_protocol:
            raw.sendall(b"PROXY UNKNOWN\r\n")
        with context.wrap_socket(raw, server_hostname=site) as tls:
            der = tls.getpeercert(binary_form=True)
            conn = http.client.HTTPConnection(site, timeout=timeout)
            conn.sock = tls
            conn.request("GET", parts.path or "/", headers={"User-Agent": "watcher"})
            status = conn.getresponse().status
    return status, der


def not_after(der: bytes) -> dt.datetime:
    """A certificate's expiry, read from its DER (the standard library parses only verified
    certificates): Certificate > TBSCertificate > [version], serial, signature, issuer, validity."""
    tbs = _children(_children(der)[0][1])[0]
    fields = _children(tbs[1])
    if fields[0][0] == 0xA0:  # explicit version tag: v2/v3 certificates
        fields = fields[1:]
    validity = _children(fields[3][1])
    tag, value = validity[1]
    text = value.decode("ascii").rstrip("Z")
    layout = "%y%m%d%H%M%S" if tag == 0x17 else "%Y%m%d%H%M%S"  # UTCTime or GeneralizedTime
    return dt.datetime.strptime(text, layout).replace(tzinfo=dt.UTC)


def _children(data: bytes) -> list[tuple[int, bytes]]:
    """The (tag, content) items of a DER SEQUENCE's content (or of a whole DER blob)."""
    items, at = [], 0
    while at < len(data):
        tag, length = data[at], data[at + 1]
        at += 2
        if length & 0x80:  # long form: the next (length & 0x7f) bytes hold the length
            size = length & 0x7F
            length = int.from_bytes(data[at : at + size], "big")
            at += size
        items.append((tag, data[at : at + length]))
        at += length
    return items
