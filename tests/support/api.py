"""A booted stack seen from outside: clients through its edge, raw TLS exchanges, its database and
storage volume, resetting it after a fault, forged tokens (reliability and browser layers)."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import os
import socket
import ssl
import subprocess
import uuid
from pathlib import Path

import httpx

from support.project import PG_BIN, Stack
from support.waiting import wait_for

PASSWORD = "correct horse battery staple"


def tls_context(stack: Stack) -> ssl.SSLContext:
    """Trust the stack's own self-signed certificate, and nothing else."""
    return ssl.create_default_context(cafile=stack.state_dir / "tls" / "selfsigned.crt")


def edge_client(stack: Stack, timeout: float = 30) -> httpx.Client:
    return httpx.Client(base_url=stack.url, verify=tls_context(stack), timeout=timeout)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def register_and_login(
    client: httpx.Client, prefix: str, password: str = PASSWORD
) -> dict[str, object]:
    """A new account through the edge; returns its e-mail, password, token and headers."""
    email = f"{prefix}.{uuid.uuid4().hex[:10]}@example.com"
    created = client.post("/api/auth/register", json={"email": email, "password": password})
    assert created.status_code == 201, created.text
    token = login(client, email, password)
    return {
        "email": email,
        "password": password,
        "id": created.json()["id"],
        "token": token,
        "headers": bearer(token),
    }


def login(client: httpx.Client, email: str, password: str) -> str:
    answer = client.post("/api/auth/login", data={"username": email, "password": password})
    assert answer.status_code == 200, answer.text
    return answer.json()["access_token"]


def admin_headers(client: httpx.Client, stack: Stack) -> dict[str, str]:
    return bearer(login(client, stack.env["FIRST_ADMIN_EMAIL"], stack.env["FIRST_ADMIN_PASSWORD"]))


def upload(
    client: httpx.Client, headers: dict, name: str, content: bytes, content_type: str = ""
) -> httpx.Response:
    kind = content_type or "application/octet-stream"
    return client.post("/api/upload", headers=headers, files={"file": (name, content, kind)})


def upload_ok(client: httpx.Client, headers: dict, name: str, content: bytes) -> dict:
    """Upload through the API, check it was acknowledged with the right digest and size."""
    answer = upload(client, headers, name, content)
    assert answer.status_code == 201, answer.text
    record = answer.json()
    assert record["sha256"] == sha256(content) and record["size"] == len(content)
    return record


def all_users(client: httpx.Client, headers: dict) -> list[dict]:
    """Every account, through the admin API (paged)."""
    users: list[dict] = []
    while True:
        page = client.get(
            "/api/users", headers=headers, params={"offset": len(users), "limit": 100}
        )
        assert page.status_code == 200, page.text
        users += page.json()["items"]
        if len(users) >= page.json()["total"]:
            return users


def without_links(files: list[dict]) -> list[dict]:
    """File records minus their download links, which are signed anew with a later expiry."""
    return [{k: v for k, v in f.items() if k not in ("url", "url_expires_at")} for f in files]


def all_files(client: httpx.Client, headers: dict) -> list[dict]:
    """The caller's files through the API (paged)."""
    files: list[dict] = []
    while True:
        page = client.get(
            "/api/files", headers=headers, params={"offset": len(files), "limit": 100}
        )
        assert page.status_code == 200, page.text
        files += page.json()["items"]
        if len(files) >= page.json()["total"]:
            return files


def download_sha256(client: httpx.Client, url: str) -> str:
    answer = client.get(url)
    assert answer.status_code == 200, f"{url}: {answer.status_code} {answer.text[:200]}"
    return sha256(answer.content)


def assert_served(client: httpx.Client, records: dict[str, bytes]) -> None:
    """Each file (url -> bytes) downloads through the edge with the same bytes."""
    for url, content in records.items():
        assert download_sha256(client, url) == sha256(content), url


def backend_ready(stack: Stack) -> bool:
    """The backend answers through the edge that its database and storage are reachable."""
    try:
        with edge_client(stack, timeout=5) as client:
            return client.get("/api/health/ready").status_code == 200
    except httpx.HTTPError:
        return False


def reset_stack(stack: Stack) -> None:
    """Bring a stack a test broke back to serving: nothing to do if the backend answers ready
    through the edge (its database and storage reachable); otherwise `down` and `up`, as an
    operator would. (Not `up` alone: a database a test restarted with pg_ctl runs under a PID the
    runner does not know, and `up` would start a second one.)"""
    stack.refresh()
    with contextlib.suppress(AssertionError):
        wait_for(lambda: backend_ready(stack), 10, what="ready")
        return
    stack.down()
    stack.up()
    wait_for(lambda: backend_ready(stack), 30, what="the backend ready after `down` and `up`")


# --- raw exchanges with the edge (what httpx would normalise or refuse to send) -------------------


def raw_exchange(
    stack: Stack, payload: bytes, timeout: float = 15, host: str = "localhost"
) -> bytes:
    """Send bytes as they are over TLS to the edge; return everything it answers until it closes."""
    with (
        socket.create_connection(("127.0.0.1", stack.port("nginx")), timeout=timeout) as sock,
        tls_context(stack).wrap_socket(sock, server_hostname=host) as tls,
    ):
        tls.sendall(payload)
        chunks = []
        while True:
            try:
                data = tls.recv(65536)
            except (TimeoutError, ssl.SSLError, ConnectionError):
                break
            if not data:
                break
            chunks.append(data)
    return b"".join(chunks)


def read_head(sock) -> bytes:
    """What a socket answers up to the end of the response's headers (or until it closes)."""
    answer = b""
    while b"\r\n\r\n" not in answer:
        received = sock.recv(65536)
        if not received:
            break
        answer += received
    return answer


def status_of(answer: bytes) -> int:
    assert answer.startswith(b"HTTP/1.1 "), f"not an HTTP answer: {answer[:200]!r}"
    return int(answer.split(b" ", 2)[1])


def raw_get(stack: Stack, target: str, method: str = "GET", headers: str = "") -> bytes:
    request = f"{method} {target} HTTP/1.1\r\nHost: localhost\r\n{headers}Connection: close\r\n\r\n"
    return raw_exchange(stack, request.encode("latin-1"))


# --- the database and the volume, seen from outside the services ----------------------------------


def sql(stack: Stack, query: str) -> str:
    """Run one query in the stack's database with psql; return its unaligned output."""
    result = subprocess.run(
        [
            str(PG_BIN / "psql"),
            "-h",
            "127.0.0.1",
            "-p",
            str(stack.port("postgres")),
            "-U",
            stack.env["POSTGRES_USER"],
            "-d",
            stack.env["POSTGRES_DB"],
            "-tAq",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            query,
        ],
        env={**os.environ, "PGPASSWORD": stack.env["POSTGRES_PASSWORD"]},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def db_stored_names(stack: Stack) -> set[str]:
    return set(sql(stack, "SELECT stored_name FROM files").split())


def disk_files(stack: Stack) -> dict[str, str]:
    """Stored name -> sha256 of every file in the storage volume (temporary files and the markers
    of blocked owners apart)."""
    root = stack.state_dir / "storage_data"
    found = {}
    for path in root.rglob("*"):
        parts = path.relative_to(root).parts
        if path.is_file() and ".tmp" not in parts and ".blocked" not in parts:
            found[path.name] = sha256(path.read_bytes())
    return found


def temp_files(stack: Stack) -> list[Path]:
    tmp = stack.state_dir / "storage_data" / ".tmp"
    return sorted(tmp.iterdir()) if tmp.is_dir() else []


def assert_volume_matches_database(stack: Stack) -> None:
    """Every row has its file and every file its row; no temporary file is left behind. (A file
    whose COMMIT outcome was unknown is settled by the backend once the database answers: allow
    it a few seconds.)"""
    wait_for(lambda: not temp_files(stack), what=f"temporary files left: {temp_files(stack)}")
    with contextlib.suppress(AssertionError):  # the assertion below says what differs
        wait_for(lambda: set(disk_files(stack)) == db_stored_names(stack), 10, what="settled")
    on_disk, in_db = set(disk_files(stack)), db_stored_names(stack)
    assert on_disk == in_db, (
        f"files without a row: {sorted(on_disk - in_db)}; rows without a file: "
        f"{sorted(in_db - on_disk)}"
    )


def service_python(stack: Stack, service: str) -> tuple[str, Path, dict[str, str]]:
    """The interpreter, folder and environment a running service was started with."""
    pid = stack.refresh()["services"][service]["pid"]
    proc = Path(f"/proc/{pid}")
    python = proc.joinpath("cmdline").read_bytes().split(b"\0")[0].decode()
    environ = dict(
        item.split("=", 1)
        for item in proc.joinpath("environ").read_bytes().decode().split("\0")
        if "=" in item
    )
    return python, proc.joinpath("cwd").resolve(), environ


def openapi_of(stack: Stack, service: str) -> dict:
    """The service's OpenAPI document as its running code builds it (docs are off in production)."""
    python, cwd, environ = service_python(stack, service)
    result = subprocess.run(
        [python, "-c", "import json; from app.main import app; print(json.dumps(app.openapi()))"],
        cwd=cwd,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


# --- forged tokens --------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def jwt_encode(header: dict, claims: dict, key: bytes | None) -> str:
    """A compact JWS; key None leaves the signature empty (as `alg: none` does)."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    if key is None:
        return signing_input + "."
    digest = {"HS256": hashlib.sha256, "HS512": hashlib.sha512}[header["alg"]]
    signature = hmac.new(key, signing_input.encode(), digest).digest()
    return f"{signing_input}.{_b64(signature)}"


def jwt_claims(token: str) -> dict:
    return json.loads(_unb64(token.split(".")[1]))


def jwt_with_claims(token: str, claims: dict) -> str:
    """The same header and signature around other claims (a tampered payload)."""
    header, _, signature = token.split(".")
    return f"{header}.{_b64(json.dumps(claims).encode())}.{signature}"
