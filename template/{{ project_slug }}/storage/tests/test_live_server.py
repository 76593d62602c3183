"""Against a real uvicorn process on loopback: raw sockets, disconnects, memory, a full disk."""

import hashlib
import shutil
import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx2 as httpx
import pytest

from tests.conftest import (
    AUTH,
    TOKEN,
    Backend,
    LiveServer,
    start_server,
    stop_server,
    stored_files,
    upload,
    wait_until,
)

MIB = 1024 * 1024
SECRET = b"the file next to the volume"


def raw_request(server: LiveServer, head: str, body: bytes = b"") -> tuple[int, bytes]:
    """Send bytes exactly as written (no client-side URL normalisation); return status and body."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(head.encode("latin-1") + b"\r\n\r\n" + body)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


def temp_bytes(volume: Path) -> int:
    return sum(path.stat().st_size for path in (volume / ".tmp").glob("upload-*"))


@pytest.fixture(scope="module")
def server_with_a_file(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[LiveServer, str]]:
    server = start_server(tmp_path_factory.mktemp("traversal") / "volume")
    (server.volume.parent / "secret.txt").write_bytes(SECRET)
    with httpx.Client(base_url=server.url) as client:
        name = upload(client, b"stored", filename="a.txt").json()["name"]
    yield server, name
    stop_server(server)


TRAVERSALS = [
    "../secret.txt",
    "..%2fsecret.txt",
    "%2e%2e%2fsecret.txt",
    "%2e%2e",
    "..",
    "%2fetc%2fpasswd",
    "/etc/passwd",
    "..%5csecret.txt",
    "..\\secret.txt",
    "{name}%00",
    "{name}%00.png",
    ".tmp",
    ".%2e/secret.txt",
    "{aa}%2f{bb}%2f{name}",
    "{aa}/{bb}/{name}",
    "{name}/",
    "{name}/..",
    "{name}%2f..%2f..%2f..%2fsecret.txt",
    "a" * 4000,
    "{name_upper}",
    "~root",
    "%252e%252e%252fsecret.txt",
]


@pytest.mark.parametrize("attempt", TRAVERSALS, ids=lambda attempt: attempt[:40])
def test_traversal_attempts_are_404_and_touch_nothing(
    server_with_a_file: tuple[LiveServer, str], attempt: str
) -> None:
    server, name = server_with_a_file
    path = attempt.format(name=name, aa=name[0:2], bb=name[2:4], name_upper=name.upper())
    before = stored_files(server.volume)
    for method in ("GET", "HEAD", "DELETE"):
        head = (
            f"{method} /storage/files/{path} HTTP/1.1\r\nHost: storage\r\n"
            f"Authorization: Bearer {TOKEN}\r\nConnection: close"
        )
        status, body = raw_request(server, head)
        assert status == 404, (method, path, body)
        assert SECRET not in body and b"stored" not in body
    assert stored_files(server.volume) == before
    assert (server.volume.parent / "secret.txt").read_bytes() == SECRET


def _has_left_memory(backend: Backend) -> bool:
    """Bytes of an upload in progress are in the volume's temporary file, or in a part that the
    store holds for an open multipart upload: not in the service's memory."""
    if backend.name == "s3":
        return any(kept.startswith("upload:") for kept in backend.stored())
    return temp_bytes(backend.volume) >= MIB


def test_a_client_that_disconnects_mid_upload_leaves_nothing(
    live_server_factory: Callable[..., LiveServer], backend: Backend
) -> None:
    server = live_server_factory(backend.volume, MAX_UPLOAD_MB="40", **backend.env())
    head = (
        f"POST /storage/upload?filename=big.bin HTTP/1.1\r\nHost: storage\r\n"
        f"Authorization: Bearer {TOKEN}\r\nContent-Length: {32 * MIB}"
    )
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        # More than one S3 part (8 MiB), less than the whole body.
        sock.sendall(head.encode() + b"\r\n\r\n" + b"x" * (10 * MIB))
        assert wait_until(lambda: _has_left_memory(backend))
    assert wait_until(lambda: backend.stored() == [])
    assert httpx.get(f"{server.url}/storage/health").status_code == 200


def test_memory_stays_flat_during_a_large_upload(
    live_server_factory: Callable[..., LiveServer], backend: Backend
) -> None:
    server = live_server_factory(backend.volume, MAX_UPLOAD_MB="200", **backend.env())

    def body() -> Iterator[bytes]:
        block = b"m" * MIB
        for _ in range(160):
            yield block

    with httpx.Client(base_url=server.url, timeout=60) as client:
        upload(client, b"warm-up")
        baseline = server.peak_rss_kib()
        response = client.post("/storage/upload", content=body(), headers=AUTH)
    assert response.status_code == 201
    assert response.json()["size"] == 160 * MIB
    assert response.json()["sha256"] == hashlib.sha256(b"m" * MIB * 160).hexdigest()
    growth_mib = (server.peak_rss_kib() - baseline) / 1024
    assert growth_mib < 32, f"peak memory grew by {growth_mib:.0f} MiB for a 160 MiB upload"


def _tmpfs_wrapper(volume: Path) -> list[str]:
    """Run the server in its own mount namespace on a 1 MiB tmpfs: a real full disk, no cleanup."""
    wrapper = [
        "unshare",
        "--user",
        "--map-root-user",
        "--mount",
        "sh",
        "-c",
        'mount -t tmpfs -o size=1m tmpfs "$0" && exec "$@"',
        str(volume),
    ]
    if (
        shutil.which("unshare") is None
        or subprocess.run([*wrapper, "true"], capture_output=True).returncode != 0
    ):
        pytest.skip("a tmpfs mount needs unshare and user namespaces (util-linux, kernel setting)")
    return wrapper


def test_a_full_disk_is_a_507_and_leaves_nothing(
    live_server_factory: Callable[..., LiveServer], tmp_path: Path
) -> None:
    volume = tmp_path / "tiny-volume"
    volume.mkdir()
    server = live_server_factory(volume, wrapper=_tmpfs_wrapper(volume), MAX_UPLOAD_MB="10")
    # The server's view of the volume: the tmpfs exists only in its mount namespace.
    seen_by_server = Path(f"/proc/{server.process.pid}/root") / volume.relative_to("/")
    with httpx.Client(base_url=server.url, timeout=30) as client:
        response = upload(client, b"f" * (MIB + MIB // 2), filename="too-big-for-the-disk.bin")
        assert response.status_code == 507
        assert "storage volume is full" in response.json()["detail"]
        assert stored_files(seen_by_server) == []
        assert upload(client, b"s" * 100_000).status_code == 201  # the space was given back


def test_a_streaming_client_over_the_limit_reads_a_413(
    live_server: LiveServer, backend: Backend
) -> None:
    """The answer arrives although the client is still sending: it is not lost in a reset."""

    def body() -> Iterator[bytes]:  # chunked, no Content-Length: only the stream tells the size
        for _ in range(64):
            yield b"o" * MIB

    with httpx.Client(base_url=live_server.url, timeout=30) as client:
        for _ in range(3):
            response = client.post("/storage/upload", content=body(), headers=AUTH)
            assert response.status_code == 413
            assert "1 MB upload limit" in response.json()["detail"]
    assert backend.stored() == []
