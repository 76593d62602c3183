"""The edge nginx, rendered from the generated templates, on loopback with a real TLS certificate.

The upstreams are stub HTTP servers (support.edge.StubServer) so each routing rule can be checked
on its own (what reached which service, with which headers); the same rules are exercised with the
real services by the stack tests. nginx, TLS, the ACME webroot and the storage volume are real.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import socket
import ssl
import warnings
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from support.edge import Edge, StubServer, make_test_ca, start_edge
from support.ports import free_port
from support.project import render
from support.waiting import wait_for

DOMAIN = "clo-so.com"
ALIAS = "www.clo-so.com"
STORED_NAME = "3f" + "a1" * 15 + ".html"  # a name of storage's form, with a risky extension
STORED_BYTES = b"<script>alert('served as a page?')</script>" + bytes(range(256)) * 40


@pytest.fixture(scope="module")
def stubs() -> Iterator[dict[str, StubServer]]:
    servers = {role: StubServer(role) for role in ("frontend", "backend", "storage")}
    yield servers
    for server in servers.values():
        server.shutdown()
        server.server_close()


def _start(
    session_tmp: Path,
    name: str,
    stubs: dict[str, StubServer],
    answers: dict[str, object],
    overrides: dict[str, str] | None = None,
) -> Edge:
    base = session_tmp / name
    project = render(base / "project", **answers)
    ca, chain, key = make_test_ca(base / "tls", [DOMAIN, ALIAS])
    webroot = base / "acme-webroot"
    (webroot / ".well-known" / "acme-challenge").mkdir(parents=True)
    data = base / "storage_data"
    stored = data / STORED_NAME[:2] / STORED_NAME[2:4] / STORED_NAME
    stored.parent.mkdir(parents=True)
    stored.write_bytes(STORED_BYTES)
    env = {
        "BACKEND_UPSTREAM": stubs["backend"].address,
        "STORAGE_UPSTREAM": stubs["storage"].address,
        "FRONTEND_UPSTREAM": stubs["frontend"].address,
        "TLS_CERTIFICATE": str(chain),
        "TLS_CERTIFICATE_KEY": str(key),
        "ACME_WEBROOT": str(webroot),
        "STORAGE_DATA_DIR": str(data),
        **(overrides or {}),
    }
    return start_edge(project, base / "nginx", env, ca_file=ca)


@pytest.fixture(scope="module")
def edge(session_tmp: Path, stubs: dict[str, StubServer]) -> Iterator[Edge]:
    """Defaults, plus an alias and a 1 MB upload limit (quick to exceed)."""
    started = _start(session_tmp, "edge", stubs, {"domain_aliases": ALIAS, "max_upload_mb": 1})
    yield started
    started.stop()


@pytest.fixture(scope="module")
def preload_edge(session_tmp: Path, stubs: dict[str, StubServer]) -> Iterator[Edge]:
    started = _start(session_tmp, "edge-preload", stubs, {"hsts_preload": True})
    yield started
    started.stop()


def seen_by(stub: StubServer, path: str) -> list[dict]:
    return [request for request in stub.seen if request["path"] == path]


# --- configuration --------------------------------------------------------------------------------


def test_rendered_configuration_passes_nginx_t_without_warnings(edge: Edge) -> None:
    checked = edge.check()
    assert checked.returncode == 0, checked.stderr
    assert "[warn]" not in checked.stderr and "[emerg]" not in checked.stderr, checked.stderr


def test_every_template_uses_braced_variables_only(rendered_project: Path) -> None:
    """envsubst also replaces `$DOMAIN`: templates keep `${VAR}` for ours, `$var` for nginx's."""
    templates = next(rendered_project.glob("*/nginx/templates"))
    files = list(templates.rglob("*.template"))
    assert len(files) >= 6
    for template in files:
        text = template.read_text()
        assert "{{" not in text and "{%" not in text, template
        for word in text.replace("${", " ").split("$")[1:]:
            assert not word[:1].isupper(), f"{template.name}: unbraced ${word[:20]}"


# --- port 80 --------------------------------------------------------------------------------------


def test_http_redirects_to_https_keeping_path_and_query(edge: Edge) -> None:
    response = edge.http_request("GET", "/some/page?q=a%20b&x=1")
    assert response.status_code == 301
    assert response.headers["location"] == (
        f"https://{DOMAIN}:{edge.https_port}/some/page?q=a%20b&x=1"
    )


def test_http_alias_redirects_to_https_on_the_same_name(edge: Edge) -> None:
    response = edge.http_request("GET", "/x", host=ALIAS)
    assert response.status_code == 301
    assert response.headers["location"] == f"https://{ALIAS}:{edge.https_port}/x"


def test_acme_challenge_is_served_over_plain_http(edge: Edge) -> None:
    challenge = Path(edge.env["ACME_WEBROOT"]) / ".well-known" / "acme-challenge" / "tok-123"
    challenge.write_text("tok-123.thumbprint")
    for host in (DOMAIN, ALIAS):
        response = edge.http_request("GET", "/.well-known/acme-challenge/tok-123", host=host)
        assert response.status_code == 200
        assert response.text == "tok-123.thumbprint"
        assert response.headers["content-type"].startswith("text/plain")
    missing = edge.http_request("GET", "/.well-known/acme-challenge/absent")
    assert missing.status_code == 404


def test_unknown_host_on_http_gets_no_answer(edge: Edge) -> None:
    with pytest.raises(httpx.RemoteProtocolError):
        edge.http_request("GET", "/", host="attacker.example")


# --- port 443: names, TLS -------------------------------------------------------------------------


def _handshake(port: int, server_name: str, **context_options: object) -> ssl.SSLSocket:
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    for name, value in context_options.items():
        setattr(context, name, value)
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        return context.wrap_socket(sock, server_hostname=server_name)
    except OSError:
        sock.close()
        raise


def test_unknown_server_name_is_refused_in_the_handshake(edge: Edge) -> None:
    with pytest.raises(ssl.SSLError, match="UNRECOGNIZED_NAME|unrecognized name"):
        _handshake(edge.https_port, "attacker.example")


def test_known_server_name_with_unknown_host_header_gets_no_answer(edge: Edge) -> None:
    with pytest.raises(httpx.RemoteProtocolError), edge.client() as client:
        client.get("/", headers={"Host": "attacker.example"}, extensions={"sni_hostname": DOMAIN})


def test_certificate_verifies_and_http2_is_offered(edge: Edge) -> None:
    context = ssl.create_default_context(cafile=str(edge.ca_file))
    context.set_alpn_protocols(["h2", "http/1.1"])
    sock = socket.create_connection(("127.0.0.1", edge.https_port), timeout=5)
    with context.wrap_socket(sock, server_hostname=DOMAIN) as tls:
        assert tls.selected_alpn_protocol() == "h2"
        assert tls.version() == "TLSv1.3"


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1])
def test_old_tls_versions_are_refused(edge: Edge, version: ssl.TLSVersion) -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    context.set_ciphers("ALL:@SECLEVEL=0")
    with warnings.catch_warnings():  # the client must offer the old version to see it refused
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = context.maximum_version = version
    # The server answers with a protocol_version alert: the refusal is the server's, not ours.
    with (
        socket.create_connection(("127.0.0.1", edge.https_port), timeout=5) as sock,
        pytest.raises(ssl.SSLError, match="TLSV1_ALERT_PROTOCOL_VERSION"),
    ):
        context.wrap_socket(sock, server_hostname=DOMAIN)


def test_tls_1_2_is_accepted(edge: Edge) -> None:
    tls = _handshake(edge.https_port, DOMAIN, maximum_version=ssl.TLSVersion.TLSv1_2)
    with tls:
        assert tls.version() == "TLSv1.2"
        assert tls.cipher()[0].startswith("ECDHE-")


def test_https_alias_redirects_to_the_canonical_name(edge: Edge) -> None:
    response = edge.request("GET", "/a/b?c=d", host=ALIAS)
    assert response.status_code == 301
    assert response.headers["location"] == f"https://{DOMAIN}:{edge.https_port}/a/b?c=d"
    assert response.headers["strict-transport-security"] == "max-age=63072000"


# --- headers --------------------------------------------------------------------------------------


def test_security_headers_are_set_once_by_the_edge(edge: Edge) -> None:
    response = edge.request("GET", "/")
    assert response.status_code == 200
    assert response.headers["x-stub-role"] == "frontend"
    headers = response.headers
    assert headers.get_list("strict-transport-security") == ["max-age=63072000"]
    # The frontend stub sends SAMEORIGIN: the edge's DENY replaces it instead of joining it.
    assert headers.get_list("x-frame-options") == ["DENY"]
    assert headers["x-content-type-options"] == "nosniff"
    policy = headers.get_list("content-security-policy")
    assert len(policy) == 1 and "default-src 'self'" in policy[0]
    assert "frame-ancestors 'none'" in policy[0] and "'unsafe-inline'" not in policy[0]
    assert headers["referrer-policy"] == "strict-origin-when-cross-origin"
    assert "camera=()" in headers["permissions-policy"]
    assert headers["server"] == "nginx"  # no version


def test_error_answers_carry_the_security_headers_too(edge: Edge) -> None:
    response = edge.request("DELETE", f"/storage/files/{STORED_NAME}")
    assert response.status_code == 405
    assert response.headers["strict-transport-security"] == "max-age=63072000"
    assert response.headers["x-content-type-options"] == "nosniff"


def test_hsts_preload_answer_adds_subdomains_and_preload(preload_edge: Edge) -> None:
    response = preload_edge.request("GET", "/")
    assert response.headers["strict-transport-security"] == (
        "max-age=63072000; includeSubDomains; preload"
    )


def test_forwarded_headers_come_from_the_edge_not_the_client(edge: Edge) -> None:
    response = edge.request(
        "GET",
        "/api/whoami",
        headers={
            "X-Forwarded-For": "203.0.113.66",
            "X-Real-IP": "203.0.113.66",
            "X-Forwarded-Proto": "http",
        },
    )
    seen = response.json()
    assert seen["role"] == "backend"
    assert seen["path"] == "/api/whoami"
    assert seen["headers"]["X-Forwarded-For"] == "127.0.0.1"
    assert seen["headers"]["X-Real-IP"] == "127.0.0.1"
    assert seen["headers"]["X-Forwarded-Proto"] == "https"
    assert seen["headers"]["Host"] == f"{DOMAIN}:{edge.https_port}"


def _raw_https(edge: Edge, request: bytes) -> bytes:
    """Send exactly these bytes over TLS (SNI = the domain) and return the whole answer."""
    context = ssl.create_default_context(cafile=str(edge.ca_file))
    sock = socket.create_connection(("127.0.0.1", edge.https_port), timeout=10)
    with context.wrap_socket(sock, server_hostname=DOMAIN) as tls:
        tls.sendall(request)
        answer = b""
        while chunk := tls.recv(65536):
            answer += chunk
    return answer


@pytest.mark.parametrize("host", ["evil.example", "localhost:1@evil.example"])
def test_services_get_the_canonical_host_whatever_the_client_sent(edge: Edge, host: str) -> None:
    """An absolute request line picks the server; the Host header must not travel on to the
    backend, which builds redirects (and compares Origin) with it."""
    answer = _raw_https(
        edge,
        f"GET https://{DOMAIN}:{edge.https_port}/api/whoami HTTP/1.1\r\n"
        f"Host: {host}\r\nConnection: close\r\n\r\n".encode(),
    )
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    seen = json.loads(body[body.index(b"{") : body.rindex(b"}") + 1])
    assert seen["headers"]["Host"] == f"{DOMAIN}:{edge.https_port}"
    assert seen["headers"]["X-Forwarded-Host"] == f"{DOMAIN}:{edge.https_port}"
    assert b"evil" not in answer


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET /api/x HTTP/1.1\r\nHost: {host}\r\nBad Header\r\n\r\n", 400),
        (b"GET /storage/x HTTP/1.1\r\nHost: {host}\r\nCookie: " + b"c" * 20000 + b"\r\n\r\n", 400),
        (b"GET /storage/files/../../../etc/passwd HTTP/1.1\r\nHost: {host}\r\n\r\n", 400),
        (b"GET /api/" + b"a" * 9000 + b" HTTP/1.1\r\nHost: {host}\r\n\r\n", 414),
    ],
    ids=["malformed", "headers-too-large", "above-the-root", "uri-too-long"],
)
def test_the_edges_own_errors_are_json(edge: Edge, request_bytes: bytes, status: int) -> None:
    host = f"{DOMAIN}:{edge.https_port}".encode()
    answer = _raw_https(edge, request_bytes.replace(b"{host}", host) + b"")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(f"HTTP/1.1 {status}".encode()), head
    assert b"content-type: application/json" in head.lower()
    assert json.loads(body)["detail"]


def test_a_405_outside_the_files_does_not_talk_about_files(edge: Edge) -> None:
    response = edge.request("POST", "/storage/health")
    assert response.status_code == 405
    assert response.json() == {
        "detail": "Seuls GET et HEAD sont permis ici ; les fichiers se déposent par /api/upload."
    }  # the default site is French: the edge's own sentences follow UI_LANGUAGE


def test_download_links_are_not_written_to_the_access_log(edge: Edge) -> None:
    secret = "signature=do-not-log-me"
    response = edge.request("GET", f"/storage/files/{STORED_NAME}?owner=o&expires=1&{secret}")
    assert response.status_code == 200
    assert edge.request("GET", "/api/logged-marker").status_code == 200

    def logs() -> str:
        return "".join(p.read_text(errors="replace") for p in (edge.prefix / "logs").glob("*.log"))

    # nginx writes the line once the answer is sent: the access log is written, just not for links
    wait_for(lambda: "/api/logged-marker" in logs(), 5, interval=0.1, what="the marker logged")
    assert secret not in logs()


def test_text_is_compressed_except_auth_answers(edge: Edge) -> None:
    api = edge.request("GET", "/api/anything", headers={"Accept-Encoding": "gzip"})
    assert api.headers["content-encoding"] == "gzip"
    assert api.json()["role"] == "backend"  # httpx decompressed it
    auth = edge.request("GET", "/api/auth/refresh", headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in auth.headers


# --- storage --------------------------------------------------------------------------------------


def test_download_is_served_by_nginx_from_the_volume_with_safe_headers(
    edge: Edge, stubs: dict[str, StubServer]
) -> None:
    response = edge.request("GET", f"/storage/files/{STORED_NAME}")
    assert response.status_code == 200
    assert hashlib.sha256(response.content).digest() == hashlib.sha256(STORED_BYTES).digest()
    headers = response.headers
    # Kept from storage across the internal redirect:
    assert headers["content-type"] == "text/html"
    assert headers["content-disposition"] == f'attachment; filename="{STORED_NAME}"'
    assert headers["cache-control"] == "private, max-age=3600"
    # Dropped by nginx on the redirect, so the edge sets the safe-serving ones itself:
    assert "x-upstream-only" not in headers
    assert "x-accel-redirect" not in headers
    assert headers["x-content-type-options"] == "nosniff"
    sandbox = "default-src 'none'; frame-ancestors 'none'; sandbox"
    assert headers.get_list("content-security-policy") == [sandbox]
    assert headers["strict-transport-security"] == "max-age=63072000"
    assert headers["etag"] and headers["last-modified"]
    assert seen_by(stubs["storage"], f"/storage/files/{STORED_NAME}")


def test_download_supports_range_and_conditional_requests(edge: Edge) -> None:
    path = f"/storage/files/{STORED_NAME}"
    partial = edge.request("GET", path, headers={"Range": "bytes=10-19"})
    assert partial.status_code == 206
    assert partial.content == STORED_BYTES[10:20]
    assert partial.headers["content-range"] == f"bytes 10-19/{len(STORED_BYTES)}"
    etag = edge.request("HEAD", path).headers["etag"]
    assert edge.request("GET", path, headers={"If-None-Match": etag}).status_code == 304


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_storage_refuses_writes_from_outside(
    edge: Edge, stubs: dict[str, StubServer], method: str
) -> None:
    before = len(stubs["storage"].seen)
    response = edge.request(method, f"/storage/files/{STORED_NAME}", content=b"x")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"
    assert "Seuls GET et HEAD sont permis ici" in response.json()["detail"]
    assert len(stubs["storage"].seen) == before


@pytest.mark.parametrize(
    "path",
    [
        "/storage/upload?filename=a.txt",
        f"/storage/meta/{STORED_NAME}",
        "/storage/health/ready",
        "/storage/files/../meta/x",
        f"/_storage_internal/{STORED_NAME[:2]}/{STORED_NAME[2:4]}/{STORED_NAME}",
    ],
)
def test_internal_storage_paths_are_not_reachable(
    edge: Edge, stubs: dict[str, StubServer], path: str
) -> None:
    before = len(stubs["storage"].seen)
    response = edge.request("GET", path)
    assert response.status_code == 404
    assert len(stubs["storage"].seen) == before


def test_storage_health_is_public_and_the_client_token_is_not_relayed(
    edge: Edge, stubs: dict[str, StubServer]
) -> None:
    response = edge.request("GET", "/storage/health", headers={"Authorization": "Bearer forged"})
    assert response.status_code == 200
    assert "Authorization" not in seen_by(stubs["storage"], "/storage/health")[-1]["headers"]


def test_backend_cannot_make_nginx_serve_the_volume(edge: Edge) -> None:
    response = edge.request("GET", "/api/try-accel")
    assert response.status_code == 200
    assert response.json() == {"ok": True}


# --- limits ---------------------------------------------------------------------------------------


def test_a_file_of_exactly_the_limit_reaches_the_backend(
    edge: Edge, stubs: dict[str, StubServer]
) -> None:
    """The limit is the file's: its multipart wrapping must not push it over at the edge (the
    backend, which can tell the file from the wrapping, refuses one byte more: test_stack).
    MAX_UPLOAD_MB is 1 here: a million bytes for the backend, a mebibyte for the edge."""
    limit = 1_000_000
    response = edge.request("POST", "/api/upload", files={"file": ("a.bin", b"x" * limit)})
    assert response.status_code == 200
    assert seen_by(stubs["backend"], "/api/upload")[-1]["body_size"] > limit


def test_upload_under_the_limit_streams_through(edge: Edge, stubs: dict[str, StubServer]) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(15):
            yield b"y" * 65536

    response = edge.request("POST", "/api/upload", content=chunks())
    assert response.status_code == 200
    assert seen_by(stubs["backend"], "/api/upload")[-1]["body_size"] == 15 * 65536


def test_other_requests_keep_a_small_body_limit(edge: Edge) -> None:
    response = edge.request("PATCH", "/api/users/me", content=b"{" + b" " * (1024 * 1024 + 1))
    assert response.status_code == 413
    assert "detail" in response.json()


def test_login_and_registration_share_a_rate_limit_with_a_json_429(
    edge: Edge, stubs: dict[str, StubServer]
) -> None:
    burst = int(edge.env["AUTH_RATE_PER_MINUTE"])  # then one more every 60/burst seconds
    with edge.client() as client:

        def attempt(path: str) -> httpx.Response:
            return client.post(
                path, data={"username": "a", "password": "b"}, extensions={"sni_hostname": DOMAIN}
            )

        logins = [attempt("/api/auth/login") for _ in range(burst + 3)]
        registration = attempt("/api/auth/register")
    codes = [response.status_code for response in logins]
    assert codes[: burst + 1] == [200] * (burst + 1)
    assert codes[-1] == 429
    for refused in (logins[-1], registration):
        assert refused.status_code == 429
        assert refused.headers["content-type"] == "application/json"
        assert refused.headers["retry-after"] == "60"
        assert refused.json()["detail"] == (
            "Trop de tentatives depuis votre adresse : attendez une minute, puis réessayez."
        )
    assert len(seen_by(stubs["backend"], "/api/auth/login")) <= burst + 2
    assert not seen_by(stubs["backend"], "/api/auth/register")


def test_other_api_calls_are_not_rate_limited(edge: Edge) -> None:
    with edge.client() as client:
        codes = {
            client.get("/api/users/me", extensions={"sni_hostname": DOMAIN}).status_code
            for _ in range(30)
        }
    assert codes == {200}


def test_service_down_gets_a_json_503_with_retry_after(
    session_tmp: Path, stubs: dict[str, StubServer]
) -> None:
    """A service the edge cannot reach (a deploy replacing it): a JSON 503 that says when to try
    again, with the site's headers, never nginx's 502 page; on /api/ and /storage/ alike."""
    dead = f"127.0.0.1:{free_port()}"
    down = _start(
        session_tmp, "edge-down", stubs, {}, {"BACKEND_UPSTREAM": dead, "STORAGE_UPSTREAM": dead}
    )
    try:
        responses = [
            down.request("GET", "/api/health"),
            down.request("POST", "/api/auth/login", data={"username": "a", "password": "b"}),
            down.request("GET", "/storage/files/" + "a" * 32),
        ]
    finally:
        down.stop()
    for response in responses:
        assert response.status_code == 503
        assert response.headers["content-type"] == "application/json"
        assert response.headers["retry-after"] == "5"
        assert response.headers["cache-control"] == "no-store"
        assert "strict-transport-security" in response.headers
        assert (
            response.json()["detail"]
            == "Le service est indisponible un instant : réessayez bientôt."
        )


def test_gzip_module_output_is_valid(edge: Edge) -> None:
    """The compressed bytes on the wire decompress to what the backend sent (no double encoding)."""
    with (
        edge.client() as client,
        client.stream(
            "GET",
            "/api/raw",
            headers={"Accept-Encoding": "gzip"},
            extensions={"sni_hostname": DOMAIN},
        ) as response,
    ):
        raw = b"".join(response.iter_raw())
    assert gzip.decompress(raw).startswith(b'{"role": "backend"')
