"""Each compose service's native recipe: how this machine starts, checks and stops it."""

from __future__ import annotations

import signal
from pathlib import Path

from .config import Project
from .environments import (
    mailer_alive,
    nginx_env,
    python_service_env,
    uses_catcher,
    watcher_env,
)
from .errors import StackError
from .nginx import start_nginx
from .postgres import Postgres
from .probes import http_ok, port_open, watcher_fresh
from .processes import pid_alive, run_logged, spawn, stop_pid, tail, wait_until
from .state import PRIVATE_DIR_MODE, State

CATCHER = Path(__file__).with_name("mailcatcher.py")

# compose.yaml's services that have a native recipe, with the runner's name for each (its key in
# `status` and in the state dir), in start order. A compose service missing here runs only in
# Docker, and `up` says so. certbot has no process here: `up`'s certificate step stands for it.
RECIPES = {
    "db": "postgres",
    "storage": "storage",
    "backend": "backend",
    "mailer": "mailer",
    "frontend": "frontend",
    "nginx": "nginx",
    "certbot": None,
    "watcher": "watcher",
}
# What a native service needs beside it, in compose.yaml or not: with a managed database
# (swarm_database_host), compose.yaml has no db, and a local backend still needs a PostgreSQL.
NEEDS = {"backend": ("postgres", "storage"), "mailer": ("postgres", "backend")}
# The loopback ports of each native service (the edge has two; the mailer's is its catcher's;
# the watcher has none).
PORTS = {"nginx": ("http", "https"), "mailer": ("smtp",), "watcher": ()}


def backend_command(python: str, port: int) -> list[str]:
    """The backend as its image starts it (the Dockerfile's CMD), on a loopback port."""
    return [
        python, "-m", "gunicorn", "-c", "gunicorn.conf.py", "app.main:app",  # BACKEND_WORKERS
        "--bind", f"127.0.0.1:{port}",
    ]  # fmt: skip


def storage_command(python: str, port: int) -> list[str]:
    """The storage service as its image starts it, on a loopback port."""
    return [
        python, "-m", "uvicorn", "app.main:app",
        "--host", "127.0.0.1", "--port", str(port), "--no-access-log",
    ]  # fmt: skip


class Services:
    """The native services of one project and state dir; `venv` is needed to start the Python
    ones, not to check or stop them."""

    def __init__(self, project: Project, state: State, venv: Path | None = None):
        self.project, self.state, self.venv = project, state, venv
        self.postgres = Postgres(state, project.settings)

    def url(self, name: str) -> str:
        port = self.state.ports.get("https" if name == "nginx" else name)
        return {
            "storage": f"http://127.0.0.1:{port}/storage/health",
            "backend": f"http://127.0.0.1:{port}/api/health",
            "frontend": f"http://127.0.0.1:{port}/",
            "nginx": f"https://127.0.0.1:{port}/api/health",
        }[name]

    def healthy(self, name: str) -> bool:
        if not pid_alive(self.state.pids.get(name)):
            return False
        if name == "postgres":
            return self.postgres.ready()
        if name == "mailer":
            return mailer_alive(self.state)
        if name == "watcher":
            return watcher_fresh(self.state.path("watcher", "state.json"))
        port = self.state.ports.get("https" if name == "nginx" else name)
        server_name = self.state.server_name if name == "nginx" else None
        return port is not None and http_ok(self.url(name), server_name)

    def start(self, name: str) -> None:
        getattr(self, f"start_{name}")()

    def start_postgres(self) -> None:
        self.postgres.start()

    def start_storage(self) -> None:
        if self.healthy("storage"):
            return
        data = self.state.path("storage_data")
        data.mkdir(parents=True, exist_ok=True)
        data.chmod(PRIVATE_DIR_MODE)  # nginx workers serve the files from here (X-Accel-Redirect)
        self.run_python("storage", storage_command(self.python, self.state.ports["storage"]))

    def start_backend(self) -> None:
        if self.healthy("backend"):
            return
        cwd, log = self.project.services_dir / "backend", self.state.log("backend")
        env = python_service_env(self.project, self.state)
        if run_logged([self.python, "-m", "app.prestart"], cwd, env, log) != 0:
            raise StackError(
                f"the backend's pre-start step (migrations) failed. Last lines of {log}:\n"
                f"{tail(log)}"
            )
        self.run_python("backend", backend_command(self.python, self.state.ports["backend"]))

    def start_mailer(self) -> None:
        if self.healthy("mailer"):
            return
        env = python_service_env(self.project, self.state)
        if uses_catcher(self.project):
            folder = self.state.path("mail")
            if not pid_alive(self.state.pids.get("mailcatcher")):
                catcher = [self.python, str(CATCHER), str(self.state.ports["smtp"]), str(folder)]
                pid = spawn(self.state, "mailcatcher", catcher, self.project.root, env)
                wait_until(lambda: port_open(self.state.ports["smtp"]), "mail catcher",
                           self.state.log("mailcatcher"), pid)  # fmt: skip
            print(f"mailer: mails go to the catcher, kept in {folder}", flush=True)
        self.state.path("run", "mailer.heartbeat").unlink(missing_ok=True)  # a stopped one's
        command = [self.python, "-m", "app.mailer"]
        pid = spawn(self.state, "mailer", command, self.project.services_dir / "backend", env)
        wait_until(lambda: mailer_alive(self.state), "mailer", self.state.log("mailer"), pid)

    def start_frontend(self) -> None:
        templates = self.project.services_dir / "frontend" / "nginx" / "templates"
        env = nginx_env(self.project, self.state)
        start_nginx(self.state, "frontend", templates, env, self.url("frontend"))

    def start_nginx(self) -> None:
        templates = self.project.services_dir / "nginx" / "templates"
        env = nginx_env(self.project, self.state)
        start_nginx(self.state, "nginx", templates, env, self.url("nginx"), self.state.server_name)

    def start_watcher(self) -> None:
        """The watcher with the runner's Python (standard library only), checking this stack."""
        if self.healthy("watcher"):
            return
        env = watcher_env(self.project, self.state)
        command = [self.python, "-m", "watcher", "run"]
        pid = spawn(self.state, "watcher", command, self.project.services_dir / "watcher", env)
        log = self.state.log("watcher")
        wait_until(lambda: self.healthy("watcher"), "watcher", log, pid)

    @property
    def python(self) -> str:
        assert self.venv is not None, "starting a Python service needs the virtualenv"
        return str(self.venv / "bin" / "python")

    def run_python(self, name: str, command: list[str]) -> None:
        env = python_service_env(self.project, self.state)
        pid = spawn(self.state, name, command, self.project.services_dir / name, env)
        wait_until(lambda: http_ok(self.url(name)), name, self.state.log(name), pid)

    def stop(self, name: str) -> None:
        if name == "postgres":
            self.postgres.stop()
        elif name == "mailer":  # finishes the mail it is sending (an SMTP timeout is 30 s)
            stop_pid(self.state.pids.get("mailer"), signal.SIGTERM, timeout=40)
            stop_pid(self.state.pids.get("mailcatcher"))
        else:  # nginx finishes the requests in flight on SIGQUIT
            quit_signal = signal.SIGQUIT if name in ("nginx", "frontend") else signal.SIGTERM
            stop_pid(self.state.pids.get(name), quit_signal)
