"""The supervisor: start a service in its own session with its log, wait for its health, stop it.

The pids live in the state dir, so `status` and `down` find the processes an `up --detach` left.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from .errors import StackError
from .state import State

HEALTH_TIMEOUT_S = 60


def spawn(state: State, name: str, cmd: list[str], cwd: Path, env: dict[str, str]) -> int:
    """Start a long-running process in its own session (it outlives `up --detach`), logged."""
    log = state.log(name)
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            cmd,
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    state.pids[name] = proc.pid
    state.save()
    return proc.pid


def run_logged(cmd: list[str], cwd: Path, env: dict[str, str], log: Path) -> int:
    """Run a one-off step (migrations) to its end, its output appended to the service's log."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        return subprocess.run(
            cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        ).returncode


def pid_alive(pid: int | None) -> bool:
    """Running, and not a zombie: an exited process that its parent (us, or init for the detached
    ones, which some inits reap only every few seconds) has not collected yet."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(ChildProcessError):
        done, _ = os.waitpid(pid, os.WNOHANG)  # our own child: collect it if it exited
        if done:
            return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc (not Linux): kill(0) is all we know
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def stop_pid(pid: int | None, sig: int = signal.SIGTERM, timeout: float = 15) -> None:
    """Ask (sig), wait up to timeout, then SIGKILL."""
    if not pid_alive(pid):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def child_pids(pid: int) -> list[int]:
    """The processes pid started (Linux /proc); empty where that is not known."""
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def tail(path: Path, lines: int = 15) -> str:
    if not path.is_file():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def wait_until(check: Callable[[], bool], what: str, log: Path, pid: int | None = None) -> None:
    """Poll check() until true; fail with the log's last lines if pid exits or time runs out."""
    deadline = time.monotonic() + HEALTH_TIMEOUT_S
    while time.monotonic() < deadline:
        if check():
            return
        if pid is not None and not pid_alive(pid):
            raise StackError(f"{what} exited during start-up. Last lines of {log}:\n{tail(log)}")
        time.sleep(0.1)
    raise StackError(
        f"{what} not healthy after {HEALTH_TIMEOUT_S} s. Last lines of {log}:\n{tail(log)}"
    )
