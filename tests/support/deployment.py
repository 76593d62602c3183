"""One deployment of the deploy layer: a rendered project, the server it goes to (sshd, the tests'
Docker engine, Pebble) and what a test does with it (run a script, read the containers, visit the
site as a browser trusting Pebble's root). Shared by the deploy layer's modules through
tests/deploy/conftest.py, so the server and its first deploy are made once a session."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from support.docker.engine import Engine, container_state
from support.docker.site import https_client
from support.project import read_env
from support.services import Service, services
from support.sshd import SshServer
from support.waiting import wait_for

PROD = Path("scripts/prod")
DOMAIN = "clo-so.com"
PASSWORD = "a long and unusual passphrase"


@dataclass
class Deployment:
    engine: Engine
    project: Path
    server: SshServer
    pebble_root: Path
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def services(self) -> dict[str, Service]:
        """The services of the project's compose.yaml, in its order."""
        return services(self.project)

    def run(
        self, script: str, *args: str, stdin: str = "", project: Path | None = None, **env: str
    ):
        started = time.monotonic()
        result = subprocess.run(
            ["sh", str((project or self.project) / PROD / f"{script}.sh"), *args],
            env=self.server.script_env(**env),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=900,
            cwd="/",
        )
        self.last_seconds = time.monotonic() - started
        return result

    def containers(self) -> dict[str, tuple[str, str]]:
        """service -> (container id, state such as "running healthy") of the deployed stack."""
        found = {}
        for name, service in self.services.items():
            state = container_state(self.engine, service.container)
            if state != "missing":
                ident = self.engine.docker("inspect", "--format", "{{.Id}}", service.container)
                found[name] = (ident.stdout.strip(), state)
        return found

    def client(self):
        """A browser-like client: verifies the served certificate against Pebble's root."""
        return https_client(DOMAIN, verify=ssl.create_default_context(cafile=self.pebble_root))

    def served_serial(self) -> str:
        with self.client() as client:
            client.get("/api/health")  # verifies the chain for DOMAIN
        context = ssl.create_default_context(cafile=self.pebble_root)
        with (
            socket.create_connection(("127.0.0.1", 443), timeout=10) as raw,
            context.wrap_socket(raw, server_hostname=DOMAIN) as tls,
        ):
            return tls.getpeercert()["serialNumber"]


def sign_up(deployment: Deployment, client, email: str) -> None:
    """An account made by the first admin (the default registration is by invitation)."""
    admin = account(
        client,
        read_env(deployment.project / "settings.env")["FIRST_ADMIN_EMAIL"],
        read_env(deployment.project / ".env")["FIRST_ADMIN_PASSWORD"],
    )
    created = client.post("/api/users", headers=admin, json={"email": email, "password": PASSWORD})
    assert created.status_code == 201, created.text


def account(client, email: str, password: str = PASSWORD) -> dict[str, str]:
    login = client.post("/api/auth/login", data={"username": email, "password": password})
    assert login.status_code == 200, login.text
    return {"Authorization": f"Bearer {login.json()['access_token']}"}


def secrets_of(project: Path) -> list[str]:
    env = read_env(project / ".env")
    return [
        env[k] for k in ("POSTGRES_PASSWORD", "SECRET_KEY", "FIRST_ADMIN_PASSWORD", "STORAGE_TOKEN")
    ]


def copy_of(deployment: Deployment, tmp_path: Path) -> Path:
    return shutil.copytree(deployment.project, tmp_path / "project", symlinks=True)


def remote(deployment: Deployment, name: str) -> Path:
    """The folder of another site on the same server (REMOTE_DIR of a second deployment)."""
    return deployment.server.home / "srv" / name


def project_containers(deployment: Deployment, slug: str) -> list[str]:
    """The containers of the compose project `slug` on the server, stopped ones too."""
    listed = deployment.engine.docker(
        "ps",
        "--all",
        "--filter",
        f"label=com.docker.compose.project={slug}",
        "--format",
        "{{.Names}}",
    )
    return listed.stdout.split()


def sql(deployed: Deployment, statement: str) -> str:
    """One value from the deployment's database, as its psql prints it."""
    settings = read_env(deployed.project / "settings.env")
    user, database = settings["POSTGRES_USER"], settings["POSTGRES_DB"]
    result = deployed.engine.docker(
        "exec", "closo_db", "psql", "-At", "-U", user, "-d", database, "-c", statement
    )
    return result.stdout.strip()


def on_server(deployed: Deployment, *args: str):
    """docker compose in the server's deployment folder, as the operator would type it there."""
    return deployed.engine.compose(deployed.server.remote_dir, *args, timeout=600)


def archive_now(deployed: Deployment) -> None:
    """Closes the database's current WAL segment and waits until the repository has it."""
    segment = sql(deployed, "SELECT pg_walfile_name(pg_switch_wal())")
    wait_for(
        lambda: sql(deployed, "SELECT last_archived_wal FROM pg_stat_archiver") >= segment,
        timeout=60,
        interval=1,
        what=f"WAL segment {segment} archived",
    )


def volumes_kept_aside(deployed: Deployment) -> list[str]:
    """The volumes a restore copied aside (`<volume>_before_restore_<date>`)."""
    names = deployed.engine.docker("volume", "ls", "--format", "{{.Name}}").stdout.split()
    return [name for name in names if "_before_restore_" in name]


def lose_the_server(deployed: Deployment) -> None:
    """The server lost, as a disaster recovery starts: every container and volume of the site and
    the deployment folder gone, except what a new server would have too (the harness's
    compose.override.yaml) and the backup repository (the `local` one is a volume: the stand-in
    for an `s3` repository that survives the server)."""
    on_server(deployed, "down", "--timeout", "10")
    volumes = deployed.engine.docker("volume", "ls", "--format", "{{.Name}}").stdout.split()
    lost = [v for v in volumes if v.startswith("closo_") and v != "closo_backup_repository"]
    deployed.engine.docker("volume", "rm", *lost)
    for path in deployed.server.remote_dir.iterdir():
        if path.is_dir():
            shutil.rmtree(path)
        elif path.name != "compose.override.yaml":
            path.unlink()
