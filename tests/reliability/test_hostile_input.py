"""Hostile input: a login burst, generated requests (schemathesis) on both services, forged
tokens, storage names that try to climb out, the storage's internal endpoints, uploaded HTML and
SVG, oversized and malformed bodies. Each answer is a clean 4xx with nothing written or leaked.

Stacks: the session's shared one, and `hostile_stack` with a 2 MB upload limit (cheap oversized
bodies) and the default login rate limit. Traffic goes only to 127.0.0.1, bounded in count and
time.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from support.api import (
    PASSWORD,
    all_files,
    assert_volume_matches_database,
    bearer,
    db_stored_names,
    disk_files,
    edge_client,
    jwt_claims,
    jwt_encode,
    jwt_with_claims,
    openapi_of,
    raw_exchange,
    raw_get,
    register_and_login,
    status_of,
    temp_files,
    upload,
    upload_ok,
)
from support.processes import memory_kib
from support.project import Stack, boot_stack, in_site_language
from support.waiting import wait_for

pytestmark = pytest.mark.reliability

# How far the backend's memory may grow while a login burst hits the edge: two argon2id hashes
# at a time (19 MiB each) and their buffers.
BACKEND_BURST_MEMORY_MIB = 96
# Generated examples per operation and authentication (bounded: the layer stays in minutes).
SCHEMATHESIS_EXAMPLES = 25


@pytest.fixture(scope="module")
def hostile_stack(session_tmp: Path):
    """Production settings, a 2 MB upload limit (cheap oversized bodies), the default login
    rate limit."""
    booted = boot_stack(session_tmp / "reliability-hostile", max_upload_mb=2)
    assert booted.env["AUTH_RATE_PER_MINUTE"] == "10"
    yield booted
    booted.down()


def test_login_burst_is_rate_limited_before_the_backend_memory_grows(hostile_stack: Stack):
    """120 logins at once from one address: the edge answers 429 past its burst (10), so the
    backend hashes only a few passwords and its memory stays within its bound."""
    with edge_client(hostile_stack) as client:
        created = client.post(
            "/api/auth/register", json={"email": "burst@example.com", "password": PASSWORD}
        )
        assert created.status_code == 201, created.text
    backend_pid = hostile_stack.refresh()["services"]["backend"]["pid"]
    baseline = memory_kib(backend_pid)["VmRSS"]
    peak = [baseline]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], memory_kib(backend_pid)["VmRSS"])
            time.sleep(0.01)

    def attempt(n: int) -> httpx.Response:
        with edge_client(hostile_stack) as client:
            password = PASSWORD if n % 2 else f"wrong password {n}"
            return client.post(
                "/api/auth/login", data={"username": "burst@example.com", "password": password}
            )

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        with ThreadPoolExecutor(24) as pool:
            answers = list(pool.map(attempt, range(120)))
    finally:
        done.set()
        sampler.join()
    statuses = Counter(answer.status_code for answer in answers)
    # The burst (10) and what the rate refills meanwhile reach the backend; the rest are refused.
    assert statuses[429] >= 120 - 10 - 3, statuses
    assert set(statuses) <= {200, 401, 429}, statuses
    for answer in answers:
        if answer.status_code == 429:
            assert answer.json()["detail"] == in_site_language(
                hostile_stack,
                fr="Trop de tentatives depuis votre adresse : attendez une minute, puis réessayez.",
                en="Too many attempts from your address: wait a minute, then try again.",
            )
            assert answer.headers["retry-after"] == "60"
    grown_mib = (peak[0] - baseline) / 1024
    print(f"backend RSS {baseline / 1024:.0f} MiB, peak +{grown_mib:.0f} MiB, {statuses}")
    assert grown_mib < BACKEND_BURST_MEMORY_MIB, f"backend RSS grew by {grown_mib:.0f} MiB"
    assert hostile_stack.refresh()["services"]["backend"]["pid"] == backend_pid
    assert hostile_stack.status["services"]["backend"]["healthy"]


def _run_schemathesis(schema: dict, base_url: str, headers: dict, checks: list) -> list[str]:
    """Every operation with bounded generated examples; returns the failures, one per operation."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings

    loaded = schemathesis.openapi.from_dict(schema)
    failures = []
    for result in loaded.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(
            max_examples=SCHEMATHESIS_EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
        )
        def run(case) -> None:
            case.call_and_validate(base_url=base_url, headers=headers, checks=checks, timeout=30)

        try:
            run()
        except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - listed per operation
            failures.append(f"{operation.label}: {exc}"[:1500])
    return failures


def _conformance_checks() -> list:
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
    )

    return [not_a_server_error, response_schema_conformance, content_type_conformance]


@pytest.fixture(scope="module")
def hostile_user(hostile_stack: Stack):
    """Signed up on the backend's own port: the login burst test may have used the edge's quota."""
    backend = f"http://127.0.0.1:{hostile_stack.port('backend')}"
    with httpx.Client(base_url=backend, timeout=30) as client:
        return register_and_login(client, "hostile")


@pytest.mark.parametrize("auth", ["no-token", "user-token"])
def test_schemathesis_backend_no_5xx_and_conforming_answers(hostile_stack, hostile_user, auth):
    """Generated requests straight to the backend's port (the edge's login limit stays out)."""
    schema = openapi_of(hostile_stack, "backend")
    headers = hostile_user["headers"] if auth == "user-token" else {}
    base = f"http://127.0.0.1:{hostile_stack.port('backend')}"
    failures = _run_schemathesis(schema, base, headers, _conformance_checks())
    assert not failures, "\n\n".join(failures)
    assert hostile_stack.refresh()["services"]["backend"]["healthy"]


@pytest.mark.parametrize("auth", ["no-token", "storage-token"])
def test_schemathesis_storage_no_5xx_and_conforming_answers(hostile_stack, auth):
    schema = openapi_of(hostile_stack, "storage")
    headers = bearer(hostile_stack.env["STORAGE_TOKEN"]) if auth == "storage-token" else {}
    base = f"http://127.0.0.1:{hostile_stack.port('storage')}"
    failures = _run_schemathesis(schema, base, headers, _conformance_checks())
    assert not failures, "\n\n".join(failures)
    assert hostile_stack.refresh()["services"]["storage"]["healthy"]


def test_backend_documents_every_status_it_answers(hostile_stack, hostile_user):
    """The OpenAPI document lists the statuses users get (401, 403, 404, 409, ...)."""
    from schemathesis.specs.openapi.checks import status_code_conformance

    schema = openapi_of(hostile_stack, "backend")
    base = f"http://127.0.0.1:{hostile_stack.port('backend')}"
    failures = _run_schemathesis(schema, base, hostile_user["headers"], [status_code_conformance])
    failures += _run_schemathesis(schema, base, {}, [status_code_conformance])
    assert not failures, "\n\n".join(failures)


@pytest.fixture(scope="module")
def shared_user(stack: Stack):
    with edge_client(stack) as client:
        user = register_and_login(client, "hostile")
        answer = client.post(
            "/api/auth/login", data={"username": user["email"], "password": PASSWORD}
        )
        user["refresh_token"] = answer.cookies["refresh_token"]
        stored = upload_ok(client, user["headers"], "victim.txt", b"private bytes\n")
        user["url"] = stored["url"]  # a private link, valid for DOWNLOAD_LINK_MINUTES
        user["stored_name"] = stored["url"].split("?")[0].rsplit("/", 1)[1]
    return user


def _forged_tokens(stack: Stack, user: dict) -> dict[str, str]:
    key = stack.env["SECRET_KEY"].encode()
    claims = jwt_claims(user["token"])
    now = int(time.time())
    return {
        "alg-none": jwt_encode({"alg": "none", "typ": "JWT"}, claims, None),
        "alg-None-signed": jwt_encode({"alg": "None", "typ": "JWT"}, claims, None) + "c2ln",
        "wrong-key": jwt_encode({"alg": "HS256", "typ": "JWT"}, claims, os.urandom(32)),
        "other-algorithm": jwt_encode({"alg": "HS512", "typ": "JWT"}, claims, key),
        "tampered-subject": jwt_with_claims(user["token"], {**claims, "sub": str(uuid.uuid4())}),
        "tampered-expiry": jwt_with_claims(user["token"], {**claims, "exp": now + 86400 * 365}),
        "expired": jwt_encode(
            {"alg": "HS256", "typ": "JWT"}, {**claims, "iat": now - 7200, "exp": now - 3600}, key
        ),
        "refresh-as-access": user["refresh_token"],
        "garbage": "not.a.token",
    }


def test_forged_and_misused_tokens_are_401(stack, shared_user):
    forged = _forged_tokens(stack, shared_user)
    with edge_client(stack) as client:
        # Control: a token made the way the backend makes them is accepted, so the forgeries
        # below fail for what they change, not for how this test builds tokens.
        key = stack.env["SECRET_KEY"].encode()
        claims = {**jwt_claims(shared_user["token"]), "iat": int(time.time())}
        honest = jwt_encode({"alg": "HS256", "typ": "JWT"}, claims, key)
        assert client.get("/api/users/me", headers=bearer(honest)).status_code == 200
        for name, token in forged.items():
            for method, path in (("GET", "/api/users/me"), ("GET", "/api/files")):
                answer = client.request(method, path, headers=bearer(token))
                assert answer.status_code == 401, f"{name} on {path}: {answer.status_code}"
                assert answer.headers["www-authenticate"].lower().startswith("bearer"), name
                assert answer.json()["detail"], name
            refused = upload(client, bearer(token), "forged.txt", b"nope")
            assert refused.status_code == 401, f"{name} upload: {refused.status_code}"
        assert len(all_files(client, shared_user["headers"])) == 1


TRAVERSALS = (
    "/storage/files/../../../../etc/passwd",
    "/storage/files/..%2f..%2f..%2f..%2fetc%2fpasswd",
    "/storage/files/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/storage/files/%252e%252e%252fsettings.env",
    "/storage/files/..%5c..%5c.env",
    "/storage/files/.tmp",
    "/storage/files/%2etmp/",
    "/storage/files/{shard}/{name}",
    "/storage/files/{name}/",
    "/storage/files/{name}%00.html",
    "/storage/files/{name}%2f..%2f{name}",
    "/storage/files/{upper}",
    "/storage/files/{name}.",
    "/storage/files/{name};.html",
    "/storage/files/{name}/..%2f..%2f..%2fproject%2f.env",
    "/storage/files/%7e{name}",
    "/_storage_internal/{shard}/{name}",
    "/_storage_internal/../.env",
    "/storage/files/../../.env",
)


def test_storage_name_tricks_through_the_edge_are_404(stack, shared_user):
    name = shared_user["stored_name"]
    secrets_seen = (stack.env["STORAGE_TOKEN"], stack.env["SECRET_KEY"], "root:x:0:0")
    shard = f"{name[:2]}/{name[2:4]}"
    for pattern in TRAVERSALS:
        target = pattern.format(name=name, shard=shard, upper=name.upper())
        answer = raw_get(stack, target)
        status = status_of(answer)
        # nginx decodes the path first: a NUL, or dot segments that climb above the root, are
        # refused by nginx itself (400) before any location is chosen.
        refused_by_nginx = "%00" in target or ".." in target.lower().replace("%2e", ".")
        expected = (400, 404) if refused_by_nginx else (404,)
        assert status in expected, f"{target}: {answer[:300]!r}"
        assert b"private bytes" not in answer, target
        assert not any(secret.encode() in answer for secret in secrets_seen), target
    # The real link still works; the bare name is no key to the file.
    assert status_of(raw_get(stack, shared_user["url"])) == 200
    assert status_of(raw_get(stack, f"/storage/files/{name}")) == 403


def test_internal_storage_endpoints_are_refused_at_the_edge(stack, shared_user):
    name = shared_user["stored_name"]
    files_before = disk_files(stack)
    for token in ("", stack.env["STORAGE_TOKEN"]):  # even the real token does not help
        auth = f"Authorization: Bearer {token}\r\n" if token else ""
        for method, target, body in (
            ("POST", "/storage/upload?filename=x.html", b"<script>alert(1)</script>"),
            ("PUT", f"/storage/files/{name}", b"overwritten"),
            ("POST", f"/storage/files/{name}", b"overwritten"),
            ("DELETE", f"/storage/files/{name}", b""),
            ("GET", f"/storage/meta/{name}", b""),
            ("GET", "/storage/health/ready", b""),
            ("GET", "/storage/openapi.json", b""),
            ("GET", "/storage/docs", b""),
            ("POST", "/storage//upload", b"x"),
            ("POST", "/storage/files/../upload", b"x"),
            ("POST", "/storage/files/%2e%2e/upload", b"x"),
        ):
            request = (
                f"{method} {target} HTTP/1.1\r\nHost: localhost\r\n{auth}"
                f"Content-Type: text/html\r\nContent-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n"
            ).encode() + body
            answer = raw_exchange(stack, request)
            assert status_of(answer) in (404, 405), f"{method} {target}: {answer[:300]!r}"
            assert b'"detail"' in answer, f"{method} {target}: {answer[:300]!r}"
    assert disk_files(stack) == files_before
    with edge_client(stack) as client:
        assert client.get(shared_user["url"]).content == b"private bytes\n"


@pytest.mark.parametrize(
    "filename, content",
    [
        ("page.html", b"<html><script>document.title='pwned'</script></html>"),
        ("image.svg", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'),
        ("image.png", b"<html><script>alert(1)</script></html>"),  # a lie about its type
    ],
)
def test_uploaded_html_and_svg_never_run_as_the_site(stack, shared_user, filename, content):
    with edge_client(stack) as client:
        record = upload_ok(client, shared_user["headers"], filename, content)
        served = client.get(record["url"])
    assert served.status_code == 200
    assert served.content == content
    csp = " ".join(served.headers.get_list("content-security-policy"))
    assert "sandbox" in csp and "default-src 'none'" in csp, served.headers
    assert served.headers["x-content-type-options"] == "nosniff"
    kind = served.headers["content-type"]
    disposition = served.headers.get("content-disposition", "")
    if filename.endswith((".html", ".svg")):
        # Scriptable types are downloads, never documents rendered at the site's origin.
        assert disposition.startswith("attachment"), served.headers
    else:
        assert kind == "image/png", served.headers  # the stored extension decides, not sniffing


def test_oversized_bodies_are_413_at_the_edge_with_nothing_written(hostile_stack, hostile_user):
    limit = 2 * 1024 * 1024
    files_before, rows_before = disk_files(hostile_stack), db_stored_names(hostile_stack)
    token = hostile_user["token"]
    head = (
        "POST /api/upload HTTP/1.1\r\nHost: localhost\r\n"
        f"Authorization: Bearer {token}\r\n"
        "Content-Type: multipart/form-data; boundary=b\r\n"
    )
    part = b'--b\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n\r\n'
    # Declared too large: refused before the body is read.
    declared = raw_exchange(
        hostile_stack, f"{head}Content-Length: {limit + 4096}\r\n\r\n".encode() + part
    )
    # Chunked, no length declared: refused once the limit is crossed.
    chunks = b"".join(
        f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
        for piece in (part, *[os.urandom(256 * 1024)] * 9)
    )
    chunked = raw_exchange(
        hostile_stack,
        f"{head}Transfer-Encoding: chunked\r\n\r\n".encode() + chunks + b"0\r\n\r\n",
    )
    # A JSON body over the 1 MB of the API's other routes.
    big_json = raw_exchange(
        hostile_stack,
        b"POST /api/auth/register HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json"
        + f"\r\nContent-Length: {2 * 1024 * 1024}\r\n\r\n".encode()
        + b'{"email": "'
        + b"a" * 4096,
    )
    for name, answer in (("declared", declared), ("chunked", chunked), ("json", big_json)):
        assert status_of(answer) == 413, f"{name}: {answer[:400]!r}"
        assert b'"detail"' in answer and b"too large" in answer.lower(), f"{name}: {answer[:400]!r}"
    # (Not assert_volume_matches_database: schemathesis stores files straight into storage.)
    wait_for(lambda: not temp_files(hostile_stack), interval=0.1, what="no temporary upload file")
    assert disk_files(hostile_stack) == files_before
    assert db_stored_names(hostile_stack) == rows_before


MALFORMED_UPLOADS = {
    "no-boundary": ("multipart/form-data", b"--x\r\n\r\nbody\r\n--x--\r\n"),
    "not-multipart": ("application/json", b'{"file": "data"}'),
    "garbage": ("multipart/form-data; boundary=x", b"\x00\xff garbage without any boundary"),
    "no-closing-boundary": (
        "multipart/form-data; boundary=x",
        b'--x\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n\r\ndata',
    ),
    "wrong-field": (
        "multipart/form-data; boundary=x",
        b'--x\r\nContent-Disposition: form-data; name="other"; filename="a.txt"\r\n\r\n'
        b"data\r\n--x--\r\n",
    ),
    "no-disposition": ("multipart/form-data; boundary=x", b"--x\r\n\r\ndata\r\n--x--\r\n"),
    "empty": ("multipart/form-data; boundary=x", b""),
    "header-garbage": (
        "multipart/form-data; boundary=x",
        b"--x\r\nContent-Disposition\x00: \xff\xfe\r\n\r\ndata\r\n--x--\r\n",
    ),
}


def test_malformed_multipart_is_4xx_with_nothing_written(stack, shared_user):
    rows_before = db_stored_names(stack)
    with edge_client(stack) as client:
        files_before = all_files(client, shared_user["headers"])
        for name, (content_type, body) in MALFORMED_UPLOADS.items():
            answer = client.post(
                "/api/upload",
                headers={**shared_user["headers"], "Content-Type": content_type},
                content=body,
            )
            assert 400 <= answer.status_code < 500, f"{name}: {answer.status_code} {answer.text}"
            assert answer.json()["detail"], name
        assert all_files(client, shared_user["headers"]) == files_before
    assert db_stored_names(stack) == rows_before
    assert_volume_matches_database(stack)
