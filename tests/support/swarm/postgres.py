"""A PostgreSQL outside the swarm, standing for a managed one (the answer swarm_database_host):
Debian's PostgreSQL 15 on the root namespace's bridge address, which the tasks of both nodes
reach, with password authentication (scram-sha-256) for the nodes' addresses only.

    with outside_postgres(base, role="closo", password=..., database="closo") as db:
        db.address, db.port, db.query("SELECT 1")

The role and the database are made as an operator makes them at a provider. Stopped by pg_ctl
(its PID file), pass or fail. Root only, like the swarm layer.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from support.project import PG_BIN, free_port

from .cluster import HOST_ADDRESS, SUBNET


def _as_postgres(*argv: str, stdin: str | None = None) -> str:
    result = subprocess.run(
        ["runuser", "-u", "postgres", "--", *argv],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed: {result.stderr}")
    return result.stdout


@dataclass
class OutsidePostgres:
    base: Path
    port: int
    database: str
    address: str = HOST_ADDRESS

    def query(self, sql: str) -> str:
        """The rows of `sql` (as the superuser, over the local socket), one per line."""
        return _as_postgres(
            str(PG_BIN / "psql"), "-h", str(self.base), "-p", str(self.port), "-d",
            self.database, "-At", "-v", "ON_ERROR_STOP=1", "-c", sql,
        )  # fmt: skip


@contextlib.contextmanager
def outside_postgres(
    base: Path, role: str, password: str, database: str
) -> Iterator[OutsidePostgres]:
    base.mkdir(parents=True)
    shutil.chown(base, "postgres", "postgres")
    data, port = base / "data", free_port()
    _as_postgres(
        str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "--auth-local=trust",
        "--auth-host=reject", "-E", "UTF8", "--locale=C.UTF-8", "-N",
    )  # fmt: skip
    with (data / "pg_hba.conf").open("a") as hba:
        hba.write(f"host all all {SUBNET} scram-sha-256\n")
    try:
        _as_postgres(
            str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(base / "log"), "-w", "-o",
            f"-p {port} -k {base} -c listen_addresses={HOST_ADDRESS} -c fsync=off",
            "start",
        )  # fmt: skip
        db = OutsidePostgres(base, port, "postgres")
        escaped = password.replace("'", "''")
        db.query(f"CREATE ROLE \"{role}\" LOGIN PASSWORD '{escaped}'")
        db.query(f'CREATE DATABASE "{database}" OWNER "{role}"')
        yield OutsidePostgres(base, port, database)
    finally:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", str(PG_BIN / "pg_ctl"), "-D", str(data), "-m",
             "fast", "-w", "stop"],
            capture_output=True,
            timeout=60,
        )  # fmt: skip
