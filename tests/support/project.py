"""Helpers for the template's tests: rendering, a PostgreSQL cluster, free ports."""

from __future__ import annotations

import atexit
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import copier
from stack.config import Project
from stack.envfile import read_env
from stack.packages import ensure_venv

from support.ports import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
# What a render needs from the repository: the working tree as it is, uncommitted edits included.
TEMPLATE_PARTS = ("copier.yml", "includes", "template")
PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))


def world_readable_tmpdir(prefix: str) -> Path:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    return path


def template_snapshot(dest: Path) -> Path:
    """Copy the template's working tree to `dest` (no .git): renders see uncommitted files."""
    if dest.exists():
        return dest
    dest.mkdir(parents=True)
    for part in TEMPLATE_PARTS:
        src = REPO_ROOT / part
        if src.is_dir():
            shutil.copytree(
                src,
                dest / part,
                ignore=shutil.ignore_patterns(
                    "__pycache__", ".pytest_cache", ".ruff_cache", ".venv", ".coverage", "htmlcov"
                ),
            )
        else:
            shutil.copy2(src, dest / part)
    return dest


_SNAPSHOT: Path | None = None


def render(dest: Path, **answers: object) -> Path:
    """Render the template into `dest` with defaults overridden by `answers`; return `dest`."""
    global _SNAPSHOT
    if _SNAPSHOT is None:
        folder = world_readable_tmpdir("closo-template-src-")
        # One snapshot per process, removed when it ends (one was left per test run before).
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        _SNAPSHOT = template_snapshot(folder / "src")
    copier.run_copy(
        str(_SNAPSHOT),
        str(dest),
        data=answers,
        defaults=True,
        unsafe=True,
        quiet=True,
        overwrite=True,
    )
    dest.chmod(0o755)
    return dest


def services_venv(project: Path) -> Path:
    """The generated runner's own virtualenv for the services' pins (built once, then cached)."""
    return ensure_venv(Project(project))[0]


def run_service_suite(
    project: Path, service: str, *, min_tests: int, min_coverage: int, env: dict[str, str]
) -> str:
    """Run a generated service's own pytest suite with coverage in the runner's virtualenv;
    assert it passed whole (at least min_tests, nothing skipped or failed) and covered at least
    min_coverage % of its lines. Returns pytest's output."""
    folder = next(project.glob(f"*/{service}/app/main.py")).parents[1]
    result = subprocess.run(
        [str(services_venv(project) / "bin" / "python"), "-m", "pytest", "-q",
         "-p", "no:cacheprovider", "-rfEs", "--cov=app", f"--cov-fail-under={min_coverage}",
         "--cov-report=term"],
        cwd=folder, capture_output=True, text=True, timeout=600,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1",
             "COVERAGE_FILE": str(project.parent / f"{service}.coverage"), **env},
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    summary = output.strip().splitlines()[-1]
    passed = re.search(r"(\d+) passed", summary)
    assert passed and int(passed.group(1)) >= min_tests, summary
    assert not re.search(r"skipped|xfail|failed|error", summary), summary
    total = re.search(r"^TOTAL\s.*?(\d+)%$", output, re.MULTILINE)
    assert total and int(total.group(1)) >= min_coverage, output[-3000:]
    return output


@dataclass
class PgCluster:
    """A PostgreSQL cluster started for the tests; superuser `postgres` with password `postgres`."""

    data_dir: Path
    port: int
    host: str = "127.0.0.1"
    user: str = "postgres"
    password: str = "postgres"

    def env(self) -> dict[str, str]:
        """POSTGRES_* variables as the generated services read them (database: caller's)."""
        return {
            "POSTGRES_HOST": self.host,
            "POSTGRES_PORT": str(self.port),
            "POSTGRES_USER": self.user,
            "POSTGRES_PASSWORD": self.password,
        }

    def stop(self) -> None:
        _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "stop"])


def _as_postgres(cmd: list[str]) -> None:
    """initdb and postgres refuse to run as root: run them as the `postgres` system user then."""
    if os.geteuid() == 0:
        cmd = ["runuser", "-u", "postgres", "--", *cmd]
    subprocess.run(cmd, check=True, capture_output=True, text=True)


def start_pg_cluster(base: Path) -> PgCluster:
    base.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")
    data_dir, port = base / "data", free_port()
    pwfile = base / "pwfile"
    pwfile.write_text("postgres\n")
    if os.geteuid() == 0:
        shutil.chown(pwfile, "postgres", "postgres")
    _as_postgres(
        [
            str(PG_BIN / "initdb"),
            "-D",
            str(data_dir),
            "-U",
            "postgres",
            f"--pwfile={pwfile}",
            "--auth=scram-sha-256",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
            "-N",
        ]
    )
    # fsync off: a throwaway test cluster, never a user's data.
    _as_postgres(
        [
            str(PG_BIN / "pg_ctl"),
            "-D",
            str(data_dir),
            "-l",
            str(base / "log"),
            "-w",
            "-o",
            f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c max_connections=200",
            "start",
        ]
    )
    return PgCluster(data_dir=data_dir, port=port)


@dataclass
class Stack:
    """A generated project booted by its own native runner (scripts/local/stack.py)."""

    project: Path
    state_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    status: dict = field(default_factory=dict)

    def run(
        self, *args: str, check: bool = True, timeout: float = 600
    ) -> subprocess.CompletedProcess:
        cmd = [
            sys.executable,
            str(self.project / "scripts" / "local" / "stack.py"),
            *args,
            "--state-dir",
            str(self.state_dir),
        ]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(
                f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
            )
        return result

    def up(self, *extra: str) -> subprocess.CompletedProcess:
        result = self.run("up", "--detach", *extra)
        self.refresh()
        return result

    def down(self) -> subprocess.CompletedProcess:
        return self.run("down", check=False)

    def refresh(self) -> dict:
        self.status = json.loads(self.run("status").stdout)
        return self.status

    @property
    def url(self) -> str:
        """The edge over HTTPS, e.g. https://localhost:PORT (no trailing slash)."""
        return self.status["url"].rstrip("/")

    @property
    def http_url(self) -> str:
        return self.status["http_url"].rstrip("/")

    def port(self, service: str) -> int:
        return self.status["services"][service]["port"]

    def log(self, service: str) -> str:
        path = self.state_dir / "logs" / f"{service}.log"
        return path.read_text(errors="replace") if path.is_file() else ""


def set_settings(project: Path, **values: str) -> None:
    """Change lines of the project's settings.env, as an operator tuning a deployment would."""
    path = project / "settings.env"
    lines = path.read_text().splitlines()
    for key, value in values.items():
        index = next(i for i, line in enumerate(lines) if line.startswith(f"{key}="))
        lines[index] = f"{key}={value}"
    path.write_text("\n".join(lines) + "\n")


def boot_stack(
    base: Path,
    settings: dict[str, str] | None = None,
    secrets: dict[str, str] | None = None,
    local_settings: dict[str, str] | None = None,
    **answers: object,
) -> Stack:
    """Render the template into base/project, apply `settings` (settings.env), `secrets`
    (added to .env, e.g. SMTP_PASSWORD) and `local_settings` (settings.local.env, the runner's
    own), boot it with state in base/state."""
    base.mkdir(parents=True, exist_ok=True)
    base.chmod(0o755)
    # The layers make their users by signing up, as on a site with open registration; a test of
    # the other modes passes registration=… or settings={"REGISTRATION": …}.
    answers.setdefault("registration", "open")
    project = render(base / "project", **answers)
    set_settings(project, **(settings or {}))
    with open(project / ".env", "a") as env_file:
        env_file.writelines(f"{name}={value}\n" for name, value in (secrets or {}).items())
    if local_settings:
        lines = "".join(f"{key}={value}\n" for key, value in local_settings.items())
        (project / "settings.local.env").write_text(lines)
    env = {**read_env(project / "settings.env"), **read_env(project / ".env")}
    stack = Stack(project=project, state_dir=base / "state", env=env)
    try:
        stack.up()
    except BaseException:
        stack.down()
        raise
    return stack


def in_site_language(stack: Stack, *, fr: str, en: str) -> str:
    """The sentence a person reads on this stack: edge, backend and storage follow UI_LANGUAGE."""
    return {"fr": fr, "en": en}[stack.env["UI_LANGUAGE"]]
