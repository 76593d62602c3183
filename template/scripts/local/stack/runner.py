"""The commands: up, status, down, test and manage of one project's stack in one state dir."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from .certificates import Certificates
from .config import Project
from .environments import python_service_env
from .nginx import find_nginx
from .packages import ensure_venv
from .ports import choose_ports
from .postgres import find_pg_bin
from .processes import pid_alive, stop_pid
from .services import NEEDS, PORTS, RECIPES, Services
from .state import IS_ROOT, PRIVATE_DIR_MODE, State, check_reachable_by


class Stack:
    def __init__(self, state_dir: Path, project: Project | None = None):
        self.project = project or Project()
        self.state = State(state_dir)
        self.services = Services(self.project, self.state)

    @property
    def names(self) -> list[str]:
        """The native services of compose.yaml's and what they need, in start order."""
        compose = self.project.compose_services
        wanted = {native for name, native in RECIPES.items() if native and name in compose}
        wanted |= {need for name in list(wanted) for need in NEEDS.get(name, ())}
        return [native for native in RECIPES.values() if native in wanted]

    def docker_only(self) -> list[str]:
        return [name for name in self.project.compose_services if name not in RECIPES]

    def choose_ports(self, http_port: int | None, https_port: int | None) -> None:
        """Keep each service's port across `up`s; a new one only when another program took it.
        A running service that talks to a moved one is stopped, so that `up` restarts it with
        the new address (the backend for postgres/storage, the edge for its upstreams)."""
        owner = {port: name for name in self.names for port in PORTS.get(name, (name,))}
        moved = choose_ports(
            self.state.ports,
            owner,
            {"http": http_port, "https": https_port},
            lambda port: pid_alive(self.state.pids.get(owner[port])),
        )
        self.state.save()
        if moved & {"postgres", "storage"}:
            stop_pid(self.state.pids.get("backend"))
        if moved & {"storage", "backend", "frontend", "http", "https"}:
            stop_pid(self.state.pids.get("nginx"), signal.SIGQUIT)

    def prepare_state_dir(self) -> None:
        self.state.root.mkdir(parents=True, exist_ok=True)
        self.state.root.chmod(PRIVATE_DIR_MODE)
        if IS_ROOT:
            check_reachable_by(self.state.root, "postgres")

    def up(
        self, server_name: str | None = None, http_port: int | None = None,
        https_port: int | None = None, acme: dict[str, str] | None = None,
    ) -> None:  # fmt: skip
        """Start what of the stack is stopped, wait until every service is healthy."""
        began = time.monotonic()
        for name in self.docker_only():
            print(
                f"{name}: runs only in Docker (no native recipe in scripts/local/stack/).",
                flush=True,
            )
        find_nginx()  # fail before any work when a binary is missing
        find_pg_bin()
        self.prepare_state_dir()
        if IS_ROOT:
            check_reachable_by(self.project.services_dir / "frontend" / "public", "nobody")
        self.state.data["server_name"] = server_name or self.state.server_name
        self.choose_ports(http_port, https_port)
        self.state.path("acme-webroot").mkdir(parents=True, exist_ok=True)
        self.services.venv, installed = ensure_venv(self.project)
        certificates = Certificates(self.project, self.state, acme)
        certificates.ensure()
        started = time.monotonic()
        for name in self.names:
            self.services.start(name)
        if acme:
            certificates.obtain()
        now = time.monotonic()
        print(
            healthy_line(now - started, now - began if installed else None, self.url()), flush=True
        )

    def url(self) -> str:
        return f"https://{self.state.server_name}:{self.state.ports['https']}/"

    def status(self) -> dict:
        ports, pids = self.state.ports, self.state.pids
        services = {}
        for name in self.names:
            alive = pid_alive(pids.get(name))
            services[name] = {
                "pid": pids.get(name) if alive else None,
                "port": ports.get("https" if name == "nginx" else name),
                "healthy": self.services.healthy(name),
            }
        host = self.state.server_name
        return {
            "url": self.url() if "https" in ports else None,
            "http_url": f"http://{host}:{ports['http']}/" if "http" in ports else None,
            "state_dir": str(self.state.root),
            "services": services,
        }

    def down(self) -> None:
        for name in reversed(self.names):
            self.services.stop(name)
        self.state.data["pids"] = {}
        self.state.save()

    @contextlib.contextmanager
    def postgres_running(self) -> Iterator[dict[str, str]]:
        """This stack's PostgreSQL (started for the block, and stopped after, if it was not
        running) and the services' virtualenv; yields the services' environment."""
        self.services.venv, _ = ensure_venv(self.project)
        started_postgres = not self.services.postgres.ready()
        if started_postgres:
            self.prepare_state_dir()
            self.choose_ports(None, None)
            self.services.start_postgres()
        try:
            yield python_service_env(self.project, self.state)
        finally:
            if started_postgres:
                self.down()

    def test(self, pytest_args: list[str]) -> int:
        """Run the services' own suites with the stack's virtualenv and PostgreSQL.

        The backend's suite creates a throwaway database next to POSTGRES_DB and drops it; the
        data of the stack is never touched.
        """
        failed = []
        with self.postgres_running() as env:
            for service in ("backend", "storage"):
                print(f"--- {service} tests", flush=True)
                code = subprocess.run(
                    [self.services.python, "-m", "pytest", *pytest_args],
                    cwd=self.project.services_dir / service,
                    env={**env, "ENVIRONMENT": "local"},
                ).returncode
                # 5: pytest selected no test, as when -k matches only the other service's.
                if code not in (0, 5) or (code == 5 and not pytest_args):
                    failed.append(service)
        if failed:
            print(f"Failing suites: {', '.join(failed)}", file=sys.stderr)
        return 1 if failed else 0

    def manage(self, manage_args: list[str]) -> int:
        """The backend's operator commands (app/manage.py) against this stack's database: create
        an administrator or reset a password when nobody can sign in. Prints the new password."""
        with self.postgres_running() as env:
            return subprocess.run(
                [self.services.python, "-m", "app.manage", *manage_args],
                cwd=self.project.services_dir / "backend",
                env=env,
            ).returncode


def healthy_line(healthy_s: float, with_install_s: float | None, url: str) -> str:
    """What `up` prints at the end: the time to a healthy stack and, when this `up` installed
    the services' packages first, the whole time too (a first `up` takes mostly that)."""
    install = (
        f" ({with_install_s:.1f} s with the first installation of the services' packages)"
        if with_install_s is not None
        else ""
    )
    return f"Stack healthy in {healthy_s:.1f} s{install}: {url}"
