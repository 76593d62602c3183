"""A deployment with its backup service, backing up to SeaweedFS as its S3 repository, on the tests'
Docker engine: for the backups layer (tests/backups) and its benchmark (bench/backups.py).

The store speaks HTTPS only (pgBackRest requires it), with a CA of the tests' own that the db and
backup containers trust through BACKUP_S3_CA_FILE; it listens on every address and the containers
reach it at the compose network's gateway under a name of its own (extra_hosts), both set in a
compose.override.yaml, the way an operator adds site-specific changes.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from support.docker.engine import Engine
from support.docker.images import base_images, ensure_base_images
from support.edge import make_test_ca
from support.project import render
from support.seaweedfs import SeaweedFS, client, start_seaweedfs

SLUG = "coffre"
DOMAIN = "coffre.example.net"
BUCKET = "coffre-backups"
STORE_NAME = "s3.backups.test"
# compose.yaml's default subnet is 172.30.57.0/24: its gateway is where containers reach this host.
GATEWAY = "172.30.57.1"
CA_IN_CONTAINERS = "/etc/ssl/backup-store-ca.pem"


@dataclass
class BackupSite:
    engine: Engine
    project: Path
    store: SeaweedFS

    @property
    def store_port(self) -> str:
        return self.store.endpoint.rsplit(":", 1)[1]

    def backup(self, *args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
        """`backup ARGS` in the running backup container."""
        return self.engine.docker(
            "exec", f"{SLUG}_backup", "backup", *args, check=check, timeout=900
        )

    def status(self) -> tuple[int, str, dict]:
        """`backup status`: its exit status, its line for people, its JSON."""
        done = self.backup("status")
        line, _, document = done.stdout.partition("\n")
        return done.returncode, line, json.loads(document)

    def tool(self, command: str) -> str:
        """A shell command in the backup container with the repository's settings loaded."""
        return self.engine.docker(
            "exec", f"{SLUG}_backup", "sh", "-c", f". /usr/local/lib/backup-env.sh && {command}"
        ).stdout

    def restic(self, arguments: str) -> str:
        return self.tool(f'restic --cacert "$BACKUP_S3_CA_FILE" {arguments}')

    def sql(self, query: str) -> str:
        return self.engine.docker(
            "exec", f"{SLUG}_db", "psql", "-X", "-Atq", "-v", "ON_ERROR_STOP=1",
            "-U", SLUG, "-d", SLUG, "-c", query,
        ).stdout.strip()  # fmt: skip


@contextlib.contextmanager
def backup_site(
    engine: Engine, base: Path, settings: dict[str, str] | None = None, **answers: object
) -> Iterator[BackupSite]:
    """Render, build and start the stack with backups to a fresh SeaweedFS; remove it after."""
    tls = make_test_ca(base / "store-tls", [STORE_NAME, "127.0.0.1"])
    # All addresses: the containers reach the store at their network's gateway.
    store = start_seaweedfs(base / "seaweedfs", bind="0.0.0.0", tls=tls)  # noqa: S104
    try:
        client(store).create_bucket(Bucket=BUCKET)
        project = render(
            base / "project",
            project_name="Coffre",
            domain=DOMAIN,
            registration="open",
            backup_repository="s3",
            backup_s3_endpoint=f"https://{STORE_NAME}:{store.endpoint.rsplit(':', 1)[1]}",
            backup_s3_bucket=BUCKET,
            backup_s3_region=store.region,
            backup_s3_key_id=store.access_key_id,
            backup_s3_secret=store.secret_access_key,
            **answers,
        )
        with (project / "settings.site.env").open("a") as site_settings:
            site_settings.write(f"BACKUP_S3_CA_FILE={CA_IN_CONTAINERS}\n")
            site_settings.writelines(f"{k}={v}\n" for k, v in (settings or {}).items())
        (project / "compose.override.yaml").write_text(
            "# The tests' S3 store: its name and its private CA.\nservices:\n"
            + "".join(
                f"  {service}:\n"
                f'    extra_hosts: ["{STORE_NAME}:{GATEWAY}"]\n'
                f"    volumes: ['{tls[0]}:{CA_IN_CONTAINERS}:ro']\n"
                for service in ("db", "backup")
            )
        )
        ensure_base_images(engine, base_images(project))
        engine.compose(project, "build", timeout=1200)
        try:
            engine.compose(project, "up", "--detach", "--wait", "--wait-timeout", "240")
            yield BackupSite(engine, project, store)
        finally:
            engine.compose(project, "down", "--volumes", "--timeout", "30", check=False)
    finally:
        store.stop()
