"""A Docker engine of the tests' own: Debian's dockerd with its own socket, pid file and state.

Its data root lives outside the clone (in the user's cache folder), so images built by one run,
the look-alike base images above all, are there for the next run on the same machine. Containers,
volumes and networks are not kept: the engine starts with none. It is stopped by its PID, pass or
fail. Installed by tests/support/docker/install.sh (scripts/setup.sh runs it).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from support.processes import pid_alive, stop_pid
from support.waiting import wait_for

CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "closo-template"
DOCKERD = Path(shutil.which("dockerd") or "/usr/sbin/dockerd")


class DockerError(RuntimeError):
    """A docker command failed; the message holds its output."""


@contextlib.contextmanager
def exclusive(name: str) -> Iterator[None]:
    """Hold the machine-wide lock `name` (a file in the cache) for the block.

    Two runs on one machine (two clones, or two pytest processes) would share a data root, a pid
    file and ports 80/443; with this lock the second waits for the first instead of killing its
    daemon. The kernel drops the lock when the holder dies, so a killed run never blocks the next.
    """
    CACHE.mkdir(parents=True, exist_ok=True)
    with (CACHE / f"{name}.lock").open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"waiting for another test run to release the {name} lock…", file=sys.stderr)
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield


@dataclass
class Engine:
    """A running dockerd: `docker(...)` talks to it; `env` points any docker CLI at it."""

    socket: Path
    pidfile: Path
    log: Path
    data_root: Path
    exec_root: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def host(self) -> str:
        return f"unix://{self.socket}"

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "DOCKER_HOST": self.host}

    def docker(
        self,
        *args: str,
        cwd: Path | None = None,
        input: bytes | None = None,  # noqa: A002 - subprocess's name
        timeout: float = 600,
        check: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            ["docker", *args],
            env=self.env,
            cwd=cwd,
            input=input.decode() if input is not None else None,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise DockerError(
                f"docker {' '.join(args)} exited {result.returncode}:\n"
                f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
            )
        return result

    def compose(self, project: Path, *args: str, **kwargs) -> subprocess.CompletedProcess[str]:
        return self.docker("compose", *args, cwd=project, **kwargs)

    def has_image(self, name: str) -> bool:
        return self.docker("image", "inspect", name, check=False).returncode == 0

    def image_labels(self, name: str) -> dict[str, str]:
        result = self.docker("image", "inspect", "--format", "{{json .Config.Labels}}", name)
        return json.loads(result.stdout) or {}

    def pid(self) -> int | None:
        try:
            return int(self.pidfile.read_text())
        except (OSError, ValueError):
            return None

    def stop(self, timeout: float = 60) -> None:
        """SIGTERM to dockerd (it stops its containers and its containerd), SIGKILL if it hangs."""
        pid = self.pid()
        if pid is None or not pid_alive(pid):
            return
        if self.process is None and not is_dockerd(pid):
            # The pid file of a killed run: its pid may belong to another program by now.
            self.pidfile.unlink(missing_ok=True)
            return
        stop_pid(pid, timeout)
        if self.process is not None:
            self.process.wait(timeout=10)  # reap our own child
            self.process = None
        self.pidfile.unlink(missing_ok=True)

    def restart(self) -> None:
        """Stop the daemon and start it again with the same state, as a server reboot would."""
        self.stop()
        _spawn(self)


def _spawn(engine: Engine, timeout: float = 60) -> None:
    with engine.log.open("ab") as log:
        process = subprocess.Popen(
            [
                str(DOCKERD),
                "--data-root",
                str(engine.data_root),
                "--exec-root",
                str(engine.exec_root),
                "--pidfile",
                str(engine.pidfile),
                "--host",
                engine.host,
                "--group",
                "docker",
            ],
            stdout=log,
            stderr=log,
            stdin=subprocess.DEVNULL,
            # Its own session: a Ctrl+C of pytest reaches the fixture's stop, not dockerd first.
            start_new_session=True,
        )
    engine.process = process

    def answers() -> bool:
        if process.poll() is not None:
            raise DockerError(
                f"dockerd exited {process.returncode}:\n{engine.log.read_text()[-3000:]}"
            )
        return (
            engine.socket.exists()
            and engine.docker("info", check=False, timeout=10).returncode == 0
        )

    try:
        wait_for(answers, timeout, interval=0.2, what="dockerd answering")
    except AssertionError as error:
        raise DockerError(f"{error}:\n{engine.log.read_text()[-3000:]}") from None


def start_engine(run_dir: Path) -> Engine:
    """Start dockerd with its socket in `run_dir` and its data root in the user's cache."""
    if os.geteuid() != 0:
        raise DockerError(
            "the containers and deploy layers start a Docker engine of their own: run them as root."
        )
    if not DOCKERD.exists() or not shutil.which("docker"):
        raise DockerError(
            "dockerd or the docker CLI is missing: run scripts/setup.sh (it runs "
            "tests/support/docker/install.sh)."
        )
    run_dir.mkdir(parents=True, exist_ok=True)
    data_root = CACHE / "docker-data"
    data_root.mkdir(parents=True, exist_ok=True)
    engine = Engine(
        socket=run_dir / "docker.sock",
        pidfile=CACHE / "dockerd.pid",  # beside the data root: one daemon per data root
        log=run_dir / "dockerd.log",
        data_root=data_root,
        exec_root=run_dir / "exec",
    )
    engine.stop()  # a daemon left by a killed run holds the data root
    _spawn(engine)
    _remove_leftovers(engine)
    return engine


def is_dockerd(pid: int) -> bool:
    """Whether `pid` is a dockerd now (a pid file of a killed run may name any program by now)."""
    try:
        return "dockerd" in Path(f"/proc/{pid}/cmdline").read_text(errors="replace")
    except OSError:
        return False


def _remove_leftovers(engine: Engine) -> None:
    """Containers, volumes and networks of an earlier run that did not end cleanly."""
    if ids := engine.docker("ps", "--all", "--quiet").stdout.split():
        engine.docker("rm", "--force", "--volumes", *ids)
    engine.docker("network", "prune", "--force")
    if names := engine.docker("volume", "ls", "--quiet").stdout.split():
        engine.docker("volume", "rm", "--force", *names)


def container_state(engine: Engine, name: str) -> str:
    """ "running healthy", "running" (no health check), "exited", … or "missing"."""
    result = engine.docker("inspect", "--format", "{{json .State}}", name, check=False)
    if result.returncode != 0:
        return "missing"
    state = json.loads(result.stdout)
    return " ".join(filter(None, (state["Status"], (state.get("Health") or {}).get("Status"))))


def wait_healthy(engine: Engine, containers: Sequence[str], timeout: float = 180) -> dict[str, str]:
    """Wait until every container reports healthy; return their last states."""
    states: dict[str, str] = {}

    def healthy() -> bool:
        states.update({name: container_state(engine, name) for name in containers})
        return all(state == "running healthy" for state in states.values())

    try:
        wait_for(healthy, timeout, interval=1, what="every container healthy")
    except AssertionError:
        raise AssertionError(f"not healthy within {timeout}s: {states}") from None
    return states
