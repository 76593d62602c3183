"""Processes the tests start or watch: alive or not (a zombie counts as gone), stopped by PID,
started with their output in a log file; their memory, from /proc."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from support.waiting import wait_for


def pid_alive(pid: int) -> bool:
    """Running, not a zombie waiting for its parent (or init) to reap it."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # someone else's process: it exists
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def wait_dead(pid: int, timeout: float = 10) -> None:
    wait_for(lambda: not pid_alive(pid), timeout, interval=0.05, what=f"process {pid} still alive")


def stop_pid(pid: int, timeout: float = 30, sig: int = signal.SIGTERM) -> None:
    """`sig` (SIGTERM) to `pid`, SIGKILL if it is still alive after `timeout` seconds."""
    if not pid_alive(pid):
        return
    try:
        os.kill(pid, sig)
        wait_dead(pid, timeout)
    except ProcessLookupError:
        return
    except AssertionError:
        os.kill(pid, signal.SIGKILL)
        wait_dead(pid, 10)


def start_process(cmd: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    """`cmd` with its output (stdout and stderr) in `log`, the tests' environment plus `env`."""
    with log.open("w") as output:
        return subprocess.Popen(
            cmd, stdout=output, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}
        )


def stop_process(process: subprocess.Popen) -> None:
    """SIGTERM to a child the tests started, SIGKILL after 10 s; reaped either way."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak) of a process, in KiB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0])
    return values
