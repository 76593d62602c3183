"""HTTP load with wrk: requests/s, p50/p99 latency and errors of one URL.

wrk is a C load generator (apt-get install wrk), so the client is not what limits the numbers. A
small Lua script sets the method, headers and body (a Bearer token, a login form).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


@dataclass(frozen=True)
class Load:
    connections: int = 16
    threads: int = 2
    seconds: int = 10


def lua_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_script(
    path: Path, *, method: str = "GET", headers: dict[str, str] | None = None, body: str = ""
) -> Path:
    lines = [f"wrk.method = {lua_string(method)}"]
    lines += [f"wrk.headers[{lua_string(k)}] = {lua_string(v)}" for k, v in (headers or {}).items()]
    if body:
        lines.append(f"wrk.body = {lua_string(body)}")
    path.write_text("\n".join(lines) + "\n")
    return path


def latency_ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if match is None:
        raise ValueError(f"unexpected wrk latency {text!r}")
    return float(match.group(1)) * UNIT_MS[match.group(2)]


def parse_wrk(output: str) -> dict[str, float | int]:
    """requests/s, p50/p99 (ms), requests, errors (non-2xx/3xx answers and socket errors)."""

    def find(pattern: str) -> re.Match[str]:
        match = re.search(pattern, output, re.MULTILINE)
        if match is None:
            raise RuntimeError(f"wrk output without {pattern!r}:\n{output}")
        return match

    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    return {
        "rps": round(float(find(r"Requests/sec:\s+([\d.]+)").group(1)), 1),
        "p50_ms": round(latency_ms(find(r"^\s+50%\s+(\S+)").group(1)), 2),
        "p99_ms": round(latency_ms(find(r"^\s+99%\s+(\S+)").group(1)), 2),
        "requests": int(find(r"(\d+) requests in").group(1)),
        "errors": (int(non_2xx.group(1)) if non_2xx else 0)
        + (sum(int(n) for n in socket.groups()) if socket else 0),
    }


def run_wrk(
    url: str, script: Path, load: Load, resolve: tuple[str, str] | None = None
) -> dict[str, float | int]:
    """`resolve` (name, address): wrk reaches `name` (its TLS server name and Host) at `address`,
    through an /etc/hosts of its own in a private mount namespace (root; the machine's file is
    left alone). The containerised edge answers only its domain."""
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk not found: apt-get install -y wrk (scripts/setup.sh does it)")
    command = [
        "wrk",
        f"-t{load.threads}",
        f"-c{load.connections}",
        f"-d{load.seconds}s",
        "--timeout",
        "10s",
        "--latency",
        "-s",
        str(script),
        url,
    ]
    if resolve is not None:
        hosts = script.with_suffix(".hosts")
        hosts.write_text(f"127.0.0.1 localhost\n{resolve[1]} {resolve[0]}\n")
        command = [
            "unshare",
            "--mount",
            "sh",
            "-c",
            'mount --bind "$0" /etc/hosts && exec "$@"',
            str(hosts),
            *command,
        ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=load.seconds + 60)
    if result.returncode != 0:
        raise RuntimeError(f"wrk failed ({result.returncode}): {result.stderr or result.stdout}")
    return parse_wrk(result.stdout)
