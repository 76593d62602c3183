"""The deploy scripts (scripts/prod/): generated twins in sync, and the .sh run for real over SSH.

The .sh scripts run against a real OpenSSH server on loopback (deploy_fixtures.ssh_server) with real
ssh, scp and tar. There is no Docker engine on the test machines, so on the server `docker` is a
recording stand-in: the tests assert the docker commands the scripts cause, their order, the files
that arrived, exit codes and messages. The .bat twins cannot run here (no Windows): they are proven
to issue the same ssh/scp/tar commands in the same order as the .sh, from the one list of steps.
"""

from __future__ import annotations

import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from deploy_fixtures import SshServer, ssh_server  # noqa: F401 (fixture)
from helpers import free_port, render

PROD = Path("scripts/prod")
DEPLOY_STEPS = [
    "deploy_bdd",
    "deploy_slave_storage",
    "deploy_backend",
    "deploy_frontend_no_port",
    "deploy_ssl",
]
SCRIPTS = [*DEPLOY_STEPS, "deploy_all", "status", "backup", "restore", "config"]
UP = "compose up -d --no-deps --wait --wait-timeout 300 "
# What a first deploy_all does on the server, in order (queries such as `compose ps` left out).
FIRST_DEPLOY = [
    UP + "db",
    "compose build storage",
    UP + "storage",
    "compose build backend",
    "compose run --rm --no-deps -T backend python -m app.prestart",
    UP + "backend",
    "compose build frontend",
    UP + "frontend",
    "compose build nginx",
    "compose build certbot",
    "compose run --rm --no-deps -T certbot bootstrap.sh placeholder",
    UP + "nginx",
    "compose run --rm --no-deps -T certbot bootstrap.sh obtain",
    "compose exec -T nginx nginx -s reload",
    UP + "certbot",
]


def actions(calls: list[str]) -> list[str]:
    return [c for c in calls if not c.startswith(("compose ps ", "compose version"))]


@pytest.fixture(scope="module")
def project(session_tmp: Path) -> Path:
    return render(session_tmp / "deploy-project")


@pytest.fixture
def server(ssh_server: SshServer) -> SshServer:  # noqa: F811 (fixture)
    ssh_server.reset()
    return ssh_server


def run(
    project: Path, server: SshServer, script: str, *args: str, stdin: str = "", **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", str(project / PROD / f"{script}.sh"), *args],
        env={**server.script_env(), **env},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        cwd="/",
    )


def secrets_of(project: Path) -> list[str]:
    env = dict(
        line.split("=", 1)
        for line in (project / ".env").read_text().splitlines()
        if "=" in line and not line.startswith("#")
    )
    return [
        env[k] for k in ("POSTGRES_PASSWORD", "SECRET_KEY", "FIRST_ADMIN_PASSWORD", "STORAGE_TOKEN")
    ]


# --- Run for real over SSH ---------------------------------------------------------------------
@pytest.mark.deploy
def test_deploy_all_deploys_every_service_in_order(project, server):
    result = run(project, server, "deploy_all")
    assert result.returncode == 0, result.stdout + result.stderr
    assert actions(server.docker_calls()) == FIRST_DEPLOY
    # Each step checks docker on the server first; dependencies are checked before building.
    assert server.docker_calls().count("compose version") == 5
    for n in range(1, 6):
        assert f"[{n}/5]" in result.stdout
    assert result.stdout.rstrip().endswith("https://clo-so.com/")
    remote = server.remote_dir
    assert (remote / "compose.yaml").read_bytes() == (project / "compose.yaml").read_bytes()
    for service in ("backend", "storage", "frontend", "nginx"):
        assert (remote / "closo" / service / "Dockerfile").is_file()
    assert (remote / "closo/backend/app").is_dir()
    assert (remote / "closo/certbot/bootstrap.sh").is_file()
    assert not list(remote.rglob("__pycache__"))
    assert (remote / ".env").read_bytes() == (project / ".env").read_bytes()
    assert stat.S_IMODE((remote / ".env").stat().st_mode) == 0o600
    # Only what the services need: not the deploy scripts' own folder, docs or local state.
    expected = [".deploy", ".env", "closo", "compose.yaml", "settings.env"]
    assert sorted(p.name for p in remote.iterdir()) == expected
    assert sorted(p.name for p in (remote / ".deploy").iterdir()) == ["remote.sh"]
    output = result.stdout + result.stderr
    assert not [s for s in secrets_of(project) if s in output], "a secret was printed"


@pytest.mark.deploy
def test_deploy_all_stops_at_the_first_failure(project, server):
    server.tell_docker(fail=("compose build backend",))
    result = run(project, server, "deploy_all")
    assert result.returncode == 1
    assert "building the backend image failed" in result.stderr
    assert (
        "deploy_backend failed: fix the problem above, then run deploy_backend.sh" in result.stderr
    )
    assert actions(server.docker_calls()) == FIRST_DEPLOY[:4]
    assert "[4/5]" not in result.stdout
    assert not (server.remote_dir / "closo" / "frontend").exists()


@pytest.mark.deploy
def test_backend_is_not_started_when_its_migrations_fail(project, server):
    run(project, server, "deploy_bdd")
    run(project, server, "deploy_slave_storage")
    server.tell_docker(fail=("compose run * backend python -m app.prestart",))
    result = run(project, server, "deploy_backend")
    assert result.returncode == 1
    assert "pre-start failed" in result.stderr
    assert not [c for c in server.docker_calls() if c.endswith("backend") and "up -d" in c]


@pytest.mark.deploy
def test_a_step_refuses_to_run_before_its_dependencies(project, server):
    result = run(project, server, "deploy_backend")
    assert result.returncode == 1
    assert (
        "db is not running healthy (not created): deploy it first with deploy_bdd" in result.stderr
    )
    assert "compose build backend" not in server.docker_calls()


@pytest.mark.deploy
def test_a_step_stops_when_docker_compose_is_missing_on_the_server(project, server):
    server.tell_docker(fail=("compose version",))
    result = run(project, server, "deploy_bdd")
    assert result.returncode == 1
    assert "docker compose plugin is missing" in result.stderr
    assert server.docker_calls() == ["compose version"]


@pytest.mark.deploy
def test_a_step_without_env_stops_before_reaching_the_server(project, server, tmp_path):
    copy = shutil.copytree(project, tmp_path / "project")
    (copy / ".env").unlink()
    result = run(copy, server, "deploy_bdd")
    assert result.returncode == 1
    assert ".env not found in the project folder" in result.stderr
    assert not server.remote_dir.exists()


@pytest.mark.deploy
def test_an_unreachable_server_is_reported_with_what_to_check(project, server):
    result = run(project, server, "deploy_bdd", SSH_PORT=str(free_port()))
    assert result.returncode == 1
    assert "cannot reach" in result.stderr and "check SSH_HOST, SSH_PORT, SSH_USER" in result.stderr
    assert server.docker_calls() == []


@pytest.mark.deploy
def test_status_is_ok_when_all_services_are_healthy(project, server):
    assert run(project, server, "deploy_all").returncode == 0
    result = run(project, server, "status")
    assert result.returncode == 0, result.stdout + result.stderr
    for service in ("db", "storage", "backend", "frontend", "nginx", "certbot"):
        assert re.search(rf"ok\s+{service}\s+running healthy", result.stdout), result.stdout
    assert re.search(r"clo-so\.com expires in (59|60) days", result.stdout), result.stdout
    assert "postgres_data 12M" in result.stdout and "storage_data  12M" in result.stdout
    assert "All services healthy." in result.stdout


@pytest.mark.deploy
def test_status_reports_an_unhealthy_service(project, server):
    assert run(project, server, "deploy_all").returncode == 0
    server.tell_docker(unhealthy=("backend",))
    result = run(project, server, "status")
    assert result.returncode == 1
    assert re.search(r"FAIL\s+backend\s+running unhealthy", result.stdout), result.stdout
    assert "1 problem(s) found" in result.stderr
    assert "All services healthy." not in result.stdout


@pytest.mark.deploy
def test_backup_downloads_the_dump_and_the_files_and_restore_sends_them_back(
    project, server, tmp_path
):
    copy = shutil.copytree(project, tmp_path / "project")
    assert run(copy, server, "deploy_all").returncode == 0
    backup = run(copy, server, "backup")
    assert backup.returncode == 0, backup.stderr
    (name,) = [p.name for p in (copy / "backups").iterdir()]
    assert re.fullmatch(r"\d{8}-\d{6}", name)
    assert f"Backup saved in backups/{name}" in backup.stdout
    assert (copy / "backups" / name / "db.dump").read_text() == "PGDMP fake dump\n"
    assert (copy / "backups" / name / "storage.tar.gz").read_text() == "fake storage archive\n"

    refused = run(copy, server, "restore", name, stdin="no\n")
    assert refused.returncode == 1 and "not confirmed" in refused.stderr
    assert not (server.home / "restored-db.dump").exists()

    (copy / "backups" / name / "db.dump").write_text("PGDMP from the operator\n")
    restored = run(copy, server, "restore", name, stdin="clo-so.com\n")
    assert restored.returncode == 0, restored.stderr
    assert (server.home / "restored-db.dump").read_text() == "PGDMP from the operator\n"
    assert (server.home / "restored-storage.tar.gz").read_text() == "fake storage archive\n"
    calls = actions(server.docker_calls())
    tail = calls[calls.index("compose stop backend storage") :]
    # Files unpacked aside first, then the database, then the files swapped in.
    assert [c.split(" -c ")[0] for c in tail[:4]] == [
        "compose stop backend storage",
        "compose run --rm --no-deps -T --entrypoint sh storage",
        "compose exec -T db sh",
        "compose run --rm --no-deps -T --entrypoint sh storage",
    ]
    assert ".restoring" in tail[1] and "pg_restore" in tail[2] and "mv " in tail[3]
    assert tail[-3:] == [UP + "storage", UP + "backend", "compose exec -T nginx nginx -s reload"]


@pytest.mark.deploy
def test_restore_refuses_a_name_that_is_not_a_backup(project, server):
    result = run(project, server, "restore", "../etc")
    assert result.returncode == 1 and "usage: restore NAME" in result.stderr
    assert server.docker_calls() == []


@pytest.mark.deploy
def test_a_step_never_replaces_the_secrets_the_server_runs_with(project, server, tmp_path):
    """A .env made elsewhere (a new clone, `stack.py secrets`) must not lock the backend out of
    the database that was created with the server's password."""
    assert run(project, server, "deploy_bdd").returncode == 0
    on_server = (server.remote_dir / ".env").read_bytes()
    calls_before = len(server.docker_calls())
    other = shutil.copytree(project, tmp_path / "other-clone")
    env = (other / ".env").read_text()
    (other / ".env").write_text(env.replace(secrets_of(project)[0], "0" * 32))

    result = run(other, server, "deploy_bdd")
    assert result.returncode == 1
    assert "your .env has another POSTGRES_PASSWORD than the server's" in result.stderr
    assert (server.remote_dir / ".env").read_bytes() == on_server
    assert not (server.remote_dir / ".env.incoming").exists()
    assert actions(server.docker_calls()[calls_before:]) == [], "it went on after refusing"
    assert "0" * 32 not in result.stdout + result.stderr

    # The same secrets again (an ordinary redeploy) go through.
    assert run(project, server, "deploy_bdd").returncode == 0


@pytest.mark.deploy
def test_a_failed_restore_brings_the_site_back_unchanged(project, server, tmp_path):
    copy = shutil.copytree(project, tmp_path / "project")
    assert run(copy, server, "deploy_all").returncode == 0
    name = run(copy, server, "backup").stdout.split("backups/")[-1].split()[0]
    server.tell_docker(fail=("compose exec -T db sh -c *pg_restore*",))
    result = run(copy, server, "restore", name, stdin="clo-so.com\n")
    assert result.returncode == 1
    assert "pg_restore failed" in result.stderr and "unchanged" in result.stderr
    calls = actions(server.docker_calls())
    tail = calls[calls.index("compose stop backend storage") :]
    assert not any("mv " in c for c in tail), "files were swapped after the database failed"
    assert tail[-2:] == [UP + "storage", UP + "backend"], "the site was left down"
