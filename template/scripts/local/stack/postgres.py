"""compose's `db`: a PostgreSQL cluster of the stack's own in the state dir (initdb at first)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from functools import cached_property
from pathlib import Path

from .errors import StackError
from .processes import tail
from .state import IS_ROOT, State


def find_pg_bin() -> Path:
    if os.environ.get("PG_BIN"):
        candidates = [Path(os.environ["PG_BIN"])]
    else:
        versions = [p for p in Path("/usr/lib/postgresql").glob("*/bin") if p.parent.name.isdigit()]
        candidates = sorted(
            (p for p in versions if int(p.parent.name) >= 15),
            key=lambda p: int(p.parent.name),
            reverse=True,
        )
        pg_ctl = shutil.which("pg_ctl")
        if pg_ctl:
            candidates.append(Path(pg_ctl).parent)
    for bin_dir in candidates:
        if all((bin_dir / tool).is_file() for tool in ("initdb", "pg_ctl", "postgres", "psql")):
            return bin_dir
    raise StackError(
        "PostgreSQL ≥ 15 binaries not found: install them (Debian/Ubuntu: "
        "`sudo apt-get install postgresql-15`) or set PG_BIN to their folder."
    )


def as_postgres(cmd: list[str]) -> list[str]:
    """initdb and postgres refuse to run as root: run them as the `postgres` system user then."""
    return ["runuser", "-u", "postgres", "--", *cmd] if IS_ROOT else cmd


class Postgres:
    """The cluster in STATE/postgres/data, on the state's `postgres` port, for settings' role."""

    def __init__(self, state: State, settings: dict[str, str]):
        self.state, self.settings = state, settings
        self.base, self.data = state.path("postgres"), state.path("postgres", "data")

    @cached_property
    def bin(self) -> Path:
        return find_pg_bin()

    def ready(self) -> bool:
        if "postgres" not in self.state.ports:
            return False
        port = str(self.state.ports["postgres"])
        check = [str(self.bin / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", port]
        return subprocess.run(check, capture_output=True).returncode == 0

    def start(self) -> None:
        if self.ready():
            return
        log = self.state.log("postgres")
        self.base.mkdir(parents=True, exist_ok=True)
        log.parent.mkdir(parents=True, exist_ok=True)
        log.touch()
        if IS_ROOT:
            shutil.chown(self.base, "postgres", "postgres")
            shutil.chown(log, "postgres", "postgres")
        if not (self.data / "PG_VERSION").is_file():
            self.initdb()
        options = f"-p {self.state.ports['postgres']} -k {self.base} -c listen_addresses=127.0.0.1"
        pg_ctl = [str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(log), "-w", "-t", "60"]
        result = subprocess.run(
            as_postgres([*pg_ctl, "-o", options, "start"]), capture_output=True, text=True
        )
        if result.returncode != 0:
            raise StackError(f"PostgreSQL did not start. Last lines of {log}:\n{tail(log)}")
        self.state.pids["postgres"] = int((self.data / "postmaster.pid").read_text().split()[0])
        self.state.save()
        self.ensure_database()

    def initdb(self) -> None:
        pwfile = self.base / "pwfile"
        pwfile.write_text(self.settings["POSTGRES_PASSWORD"] + "\n")
        pwfile.chmod(0o600)
        if IS_ROOT:
            shutil.chown(pwfile, "postgres", "postgres")
        initdb = [str(self.bin / "initdb"), "-D", str(self.data), "-U"]
        initdb += [self.settings["POSTGRES_USER"], f"--pwfile={pwfile}", "--auth=scram-sha-256"]
        initdb += ["-E", "UTF8", "--locale=C.UTF-8"]
        result = subprocess.run(as_postgres(initdb), capture_output=True, text=True)
        pwfile.unlink()
        if result.returncode != 0:
            raise StackError(f"initdb failed:\n{result.stderr or result.stdout}")

    def psql(self, sql: str, database: str = "postgres") -> str:
        env = {**os.environ, "PGPASSWORD": self.settings["POSTGRES_PASSWORD"]}
        port, user = str(self.state.ports["postgres"]), self.settings["POSTGRES_USER"]
        command = [str(self.bin / "psql"), "-h", "127.0.0.1", "-p", port, "-U", user]
        command += ["-d", database, "-tAq", "-v", "ON_ERROR_STOP=1", "-c", sql]
        result = subprocess.run(command, env=env, capture_output=True, text=True)
        if result.returncode != 0:
            raise StackError(f"psql failed: {result.stderr.strip()}")
        return result.stdout.strip()

    def ensure_database(self) -> None:
        name = self.settings["POSTGRES_DB"]
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
            raise StackError(f"POSTGRES_DB={name!r} in settings.env is not a plain identifier")
        # name is checked to be a plain identifier just above.
        if not self.psql(f"SELECT 1 FROM pg_database WHERE datname = '{name}'"):  # noqa: S608
            self.psql(f'CREATE DATABASE "{name}"')

    def stop(self) -> None:
        if (self.data / "postmaster.pid").is_file():
            stop = [str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"]
            subprocess.run(as_postgres(stop), capture_output=True)
