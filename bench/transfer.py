"""Large files through the edge: a streamed upload to /api/upload, downloads with curl.

The upload body is generated on the fly (a multipart body around N MiB of one random block) and
sent with its exact Content-Length: no file on disk, nothing held in the client's memory.
"""

from __future__ import annotations

import os
import secrets
import statistics
import subprocess
import time
from collections.abc import Iterator

from cpu import CpuUsage
from memory import PeakMemory
from users import Account, edge_client

MIB = 1024 * 1024


def multipart_body(size_mib: int, boundary: str) -> tuple[Iterator[bytes], int]:
    head = (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="file"; filename="bench.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()

    def chunks() -> Iterator[bytes]:
        yield head
        block = os.urandom(MIB)
        for _ in range(size_mib):
            yield block
        yield tail

    return chunks(), len(head) + size_mib * MIB + len(tail)


def upload(
    base_url: str,
    cafile: str,
    account: Account,
    size_mib: int,
    memory_pids: dict[str, int],
    cpu_pids: dict[str, int] | None = None,
) -> dict:
    """Upload `size_mib` MiB through the edge: throughput, the peak memory of `memory_pids` and
    the cores used by `cpu_pids` and the client."""
    boundary = secrets.token_hex(16)
    body, length = multipart_body(size_mib, boundary)
    headers = {
        "Authorization": f"Bearer {account.token}",
        "Content-Type": f"multipart/form-data; boundary={boundary}",
        "Content-Length": str(length),
    }
    with (
        edge_client(base_url, cafile, timeout=600) as client,
        PeakMemory(memory_pids) as memory,
        CpuUsage(cpu_pids or {}) as cpu,
    ):
        started = time.perf_counter()
        response = client.post("/api/upload", content=body, headers=headers)
        seconds = time.perf_counter() - started
    if response.status_code != 201:
        raise RuntimeError(f"upload of {size_mib} MiB: {response.status_code} {response.text}")
    stored = response.json()
    if stored["size"] != size_mib * MIB:
        raise RuntimeError(f"upload stored {stored['size']} bytes, sent {size_mib * MIB}")
    return {
        "size_mib": size_mib,
        "seconds": round(seconds, 2),
        "mib_per_s": round(size_mib / seconds, 1),
        "memory": memory.result(),
        "cpu_cores": cpu.result(),
        "file": stored,
    }


def curl_download_speed(url: str, cafile: str, port: int) -> float:
    """MiB/s of one download with curl (C, so the client is not the limit); checks the size."""
    result = subprocess.run(
        [
            "curl",
            "-sS",
            "--fail",
            "--cacert",
            cafile,
            "--resolve",
            f"localhost:{port}:127.0.0.1",
            "-o",
            "/dev/null",
            "-w",
            "%{speed_download} %{size_download} %{http_version}",
            url,
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if result.returncode != 0:  # curl's own sentence says why (refused, TLS, HTTP status)
        raise RuntimeError(f"curl {url} exited {result.returncode}: {result.stderr.strip()}")
    speed, size, _version = result.stdout.split()
    if int(size) == 0:
        raise RuntimeError(f"empty download from {url}")
    return float(speed) / MIB


def compare_downloads(
    urls: dict[str, str], cafile: str, port_of: dict[str, int], runs: int
) -> dict:
    """Median MiB/s of each URL over `runs` downloads, alternating so both see the same machine
    state; one warm-up each first (page cache, TLS session)."""
    speeds: dict[str, list[float]] = {kind: [] for kind in urls}
    for kind, url in urls.items():
        curl_download_speed(url, cafile, port_of[kind])
    for _ in range(runs):
        for kind, url in urls.items():
            speeds[kind].append(curl_download_speed(url, cafile, port_of[kind]))
    return {
        kind: {
            "median_mib_per_s": round(statistics.median(values), 1),
            "all_mib_per_s": [round(value, 1) for value in values],
        }
        for kind, values in speeds.items()
    }
