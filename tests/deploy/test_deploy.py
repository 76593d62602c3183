"""The .sh deploy scripts (scripts/prod/) run for real: over SSH to a server that runs Docker.

Real: an OpenSSH server on loopback with a deploy account (support/sshd.py), ssh, scp and tar, the
generated scripts and remote.sh, Debian's Docker Engine with compose v2 (the tests' own dockerd,
support/docker/engine.py) building and running the generated images, and Pebble issuing the
certificate over HTTP-01 through the containerised edge on ports 80/443 (certbot in its container
reaches Pebble at the stack network's gateway address).

Stand-ins: look-alike base images where no registry answers (support/docker/lookalike/README.md);
the server's own ACME settings come from a compose.override.yaml in the deployment folder
(support/deploy.py), the mechanism an operator uses for site-specific changes; a server without
the compose plugin is a `docker` stand-in on the account's PATH (the engine here cannot be
uninstalled for one test).

The tests run in order on one server: a refused early step, the first deploy_all, then status,
renewal, backup and restore, a second deploy with an edit, and failures that must leave the
running site as it was. The .bat twins are run by test_windows.py.
"""

from __future__ import annotations

import re
import stat
import subprocess
import time
from pathlib import Path

import pytest
from support.deploy import steady_load, swap_window
from support.deployment import (
    DOMAIN,
    PASSWORD,
    Deployment,
    account,
    copy_of,
    secrets_of,
    sign_up,
)
from support.project import free_port

pytestmark = pytest.mark.deploy


# --- Before the first deploy ----------------------------------------------------------------------
def test_a_step_refuses_to_run_before_its_dependencies(deployment: Deployment):
    result = deployment.run("deploy_backend")
    assert result.returncode == 1
    assert (
        "db is not running healthy (not created): deploy it first with deploy_bdd" in result.stderr
    )
    assert "deploy_backend failed on the server" in result.stderr
    assert deployment.containers() == {}


# --- The first deploy -----------------------------------------------------------------------------
def test_deploy_all_brings_up_every_service_with_a_certificate_from_acme(deployment: Deployment):
    result = deployment.run("deploy_all")
    deployment.timings["deploy_all, first"] = deployment.last_seconds
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    # One upload and one run on the server: the five steps' actions in order.
    started = [output.index(f"starting {s} and waiting") for s in ("db", "storage", "backend")]
    assert started == sorted(started), output
    assert result.stdout.rstrip().endswith(f"https://{DOMAIN}/")
    # Nothing that reads like a failure in a clean deploy.
    for word in ("warn", "deprecated", "error output", "Traceback"):
        assert word not in output.lower().replace("warning: permanently", ""), word
    assert not [s for s in secrets_of(deployment.project) if s in output], "a secret was printed"

    states = {service: state for service, (_, state) in deployment.containers().items()}
    assert states == {name: s.ready_state for name, s in deployment.services.items()}
    assert states["certbot"] == "running" and states["backend"] == "running healthy"
    # A browser trusting Pebble's root (as one trusts Let's Encrypt's) gets the site.
    with deployment.client() as client:
        page = client.get("/")
    assert page.status_code == 200 and "<html" in page.text.lower()

    remote = deployment.server.remote_dir
    assert (remote / "compose.yaml").read_bytes() == (
        deployment.project / "compose.yaml"
    ).read_bytes()
    assert (remote / ".env").read_bytes() == (deployment.project / ".env").read_bytes()
    assert stat.S_IMODE((remote / ".env").stat().st_mode) == 0o600
    # Only what the services need (and the operator's override, left alone).
    expected = [
        ".deploy",
        ".env",
        "closo",
        "compose.override.yaml",
        "compose.yaml",
        "settings.env",
        "settings.site.env",
    ]
    assert sorted(p.name for p in remote.iterdir()) == expected
    assert not list(remote.rglob("__pycache__"))


def test_status_reports_every_service_and_the_certificate(deployed: Deployment):
    result = deployed.run("status")
    assert result.returncode == 0, result.stdout + result.stderr
    for name, service in deployed.services.items():
        assert re.search(rf"ok\s+{name}\s+{service.ready_state}", result.stdout), result.stdout
    assert re.search(rf"{re.escape(DOMAIN)} expires in (89|90) days", result.stdout), result.stdout
    assert re.search(r"postgres_data \d", result.stdout) and re.search(
        r"storage_data  \d", result.stdout
    )
    assert "All services healthy." in result.stdout


def test_a_forced_renewal_reaches_nginx_by_itself(deployed: Deployment):
    """certbot renews in its container; its deploy hook installs the files; nginx's watcher
    reloads: no person, no Docker socket, no `nginx -s reload` from a script."""
    before = deployed.served_serial()
    renewal = deployed.engine.compose(
        deployed.server.remote_dir,
        "exec",
        "-T",
        "certbot",
        "certbot",
        "renew",
        "--force-renewal",
        "--no-random-sleep-on-renew",
        "--deploy-hook",
        "/opt/certbot-scripts/deploy-hook.sh",
    )
    assert "error output" not in renewal.stdout + renewal.stderr
    deadline = time.monotonic() + 30
    while deployed.served_serial() == before and time.monotonic() < deadline:
        time.sleep(0.5)
    log = deployed.engine.docker("logs", "--tail", "30", "closo_nginx", check=False)
    assert deployed.served_serial() != before, (
        f"nginx kept serving the old certificate; its log:\n{log.stdout}{log.stderr}"
    )


# --- Backup and restore ---------------------------------------------------------------------------
def test_backup_then_restore_brings_back_rows_and_files(deployed: Deployment, tmp_path: Path):
    project = copy_of(deployed, tmp_path)
    content = b"%PDF-1.4 the signed contract\n" * 1000
    with deployed.client() as client:
        sign_up(deployed, client, "kept@example.org")
        headers = account(client, "kept@example.org")
        record = client.post(
            "/api/upload",
            headers=headers,
            files={"file": ("contract.pdf", content, "application/pdf")},
        ).json()
    backup = deployed.run("backup", project=project)
    deployed.timings["backup"] = deployed.last_seconds
    assert backup.returncode == 0, backup.stdout + backup.stderr
    (name,) = [p.name for p in (project / "backups").iterdir()]
    assert f"Backup saved in backups/{name}" in backup.stdout
    assert (project / "backups" / name / "db.dump").read_bytes().startswith(b"PGDMP")

    # After the backup: the file is deleted and someone else signs up.
    with deployed.client() as client:
        assert client.delete(f"/api/files/{record['id']}", headers=headers).status_code == 204
        sign_up(deployed, client, "later@example.org")

    refused = deployed.run("restore", name, stdin="no\n", project=project)
    assert refused.returncode == 1 and "not confirmed" in refused.stderr

    restored = deployed.run("restore", name, stdin=f"{DOMAIN}\n", project=project)
    deployed.timings["restore"] = deployed.last_seconds
    assert restored.returncode == 0, restored.stdout + restored.stderr
    with deployed.client() as client:
        headers = account(client, "kept@example.org")
        files = client.get("/api/files", headers=headers).json()["items"]
        assert [f["name"] for f in files] == ["contract.pdf"]
        assert client.get(record["url"]).content == content
        gone = client.post(
            "/api/auth/login", data={"username": "later@example.org", "password": PASSWORD}
        )
        assert gone.status_code == 401


def test_a_failed_restore_leaves_the_site_as_it_was(deployed: Deployment, tmp_path: Path):
    project = copy_of(deployed, tmp_path)
    backup = deployed.run("backup", project=project)
    assert backup.returncode == 0, backup.stderr
    (name,) = [p.name for p in (project / "backups").iterdir()]
    (project / "backups" / name / "db.dump").write_bytes(b"PGDMP but not a real dump")
    result = deployed.run("restore", name, stdin=f"{DOMAIN}\n", project=project)
    assert result.returncode == 1
    assert "pg_restore failed" in result.stderr and "unchanged" in result.stderr
    with deployed.client() as client:
        headers = account(client, "kept@example.org")
        assert [f["name"] for f in client.get("/api/files", headers=headers).json()["items"]] == [
            "contract.pdf"
        ]


def test_restore_refuses_a_name_that_is_not_a_backup(deployed: Deployment):
    result = deployed.run("restore", "../etc")
    assert result.returncode == 1 and "usage: restore NAME" in result.stderr


# --- A second deploy ------------------------------------------------------------------------------
def test_deploy_all_without_changes_replaces_nothing(deployed: Deployment):
    before = deployed.containers()
    result = deployed.run("deploy_all")
    deployed.timings["deploy_all, nothing changed"] = deployed.last_seconds
    assert result.returncode == 0, result.stdout + result.stderr
    assert deployed.containers() == before


def test_a_second_deploy_all_with_a_backend_edit_replaces_only_the_backend_and_its_mailer(
    deployed: Deployment, tmp_path: Path
):
    """The mailer runs the backend's image (app.mailer): an edit to the backend replaces both."""
    project = copy_of(deployed, tmp_path)
    main = next(project.glob("*/backend/app/main.py"))
    main.write_text(main.read_text() + "\n# An edit: the API gets rebuilt and replaced.\n")
    before = deployed.containers()
    result = deployed.run("deploy_all", project=project)
    deployed.timings["deploy_all, backend edited"] = deployed.last_seconds
    assert result.returncode == 0, result.stdout + result.stderr
    after = deployed.containers()
    for replaced in ("backend", "mailer"):
        assert after[replaced][0] != before[replaced][0], f"the {replaced} was not replaced"
    others = [s for s in deployed.services if s not in ("backend", "mailer")]
    assert [s for s in others if after[s][0] == before[s][0]] == others, "others were recreated"
    with deployed.client() as client:
        headers = account(client, "kept@example.org")
        assert len(client.get("/api/files", headers=headers).json()["items"]) == 1


def test_a_backend_replaced_under_load_never_shows_a_visitor_an_error_page(
    deployed: Deployment, tmp_path: Path
):
    """deploy_backend replaces the backend (an edited image) while a signed-in visitor reads
    /api/users/me in a loop: no answer is a 502 or an HTML page, and anything but a 200 is the
    edge's JSON 503 with Retry-After. (remote.sh starts a stand-in of the new version first, so
    the edge has a backend to send requests to throughout; the window is printed.)"""
    project = copy_of(deployed, tmp_path)
    main = next(project.glob("*/backend/app/main.py"))
    main.write_text(main.read_text() + "\n# Another edit: replaced under load.\n")
    with deployed.client() as client:
        sign_up(deployed, client, "steady@example.org")
        headers = account(client, "steady@example.org")
    before = deployed.containers()["backend"][0]
    with steady_load(deployed.client, "/api/users/me", headers) as answers:
        time.sleep(1)
        result = deployed.run("deploy_backend", project=project)
        time.sleep(1)
    assert result.returncode == 0, result.stdout + result.stderr
    assert deployed.containers()["backend"][0] != before, "the backend was not replaced"
    assert "beside the running one" in result.stderr
    seen = swap_window(answers)
    print("\nswap under load:", seen)
    assert len(answers) > 50 and answers[-1].status == 200
    for answer in answers:
        if answer.status != 200:
            assert answer.status == 503, answer
            assert answer.content_type == "application/json", answer
            assert answer.retry_after == "5", answer
    deployed.timings["swap window under load"] = seen["window_s"]


# --- Failures leave the running site as it was ----------------------------------------------------
def assert_site_unchanged(deployed: Deployment, before: dict) -> None:
    assert deployed.containers() == before
    with deployed.client() as client:
        assert client.get("/api/health/ready").status_code == 200


def test_a_backend_that_does_not_start_is_never_put_in_place(deployed: Deployment, tmp_path):
    project = copy_of(deployed, tmp_path)
    main = next(project.glob("*/backend/app/main.py"))
    main.write_text(main.read_text() + "\nthis is not python\n")
    before = deployed.containers()
    result = deployed.run("deploy_backend", project=project)
    assert result.returncode == 1
    assert "the new backend does not start" in result.stderr
    assert "Traceback" in result.stderr and "this is not python" in result.stderr, result.stderr
    assert "the running version was left untouched" in result.stderr
    assert "deploy_backend failed on the server" in result.stderr
    assert_site_unchanged(deployed, before)


def test_a_new_version_that_does_not_stay_up_never_replaces_the_running_one(
    deployed: Deployment, tmp_path
):
    """It passes the pre-flight (its code imports) but exits at once when started: its stand-in
    never becomes healthy, so the running container is never stopped, and the previous image
    goes back under the service's tag."""
    project = copy_of(deployed, tmp_path)
    dockerfile = next(project.glob("*/storage/Dockerfile"))
    text = dockerfile.read_text()
    dockerfile.write_text(text[: text.rindex("CMD ")] + 'CMD ["sh", "-c", "exit 3"]\n')
    image_before = deployed.engine.docker(
        "image", "inspect", "--format", "{{.Id}}", "closo/storage:latest"
    )
    result = deployed.run("deploy_slave_storage", project=project)
    assert result.returncode == 1
    assert "the new storage did not become healthy" in result.stderr
    assert "the running version was left untouched" in result.stderr
    assert deployed.containers()["storage"][1] == "running healthy"
    image_after = deployed.engine.docker(
        "image", "inspect", "--format", "{{.Id}}", "closo/storage:latest"
    )
    assert image_after.stdout == image_before.stdout
    postgres = deployed.engine.docker(
        "image", "inspect", "--format", "{{.Config.Cmd}}", "postgres:15-alpine"
    )
    assert "postgres" in postgres.stdout, "another service's image was retagged"
    with deployed.client() as client:
        assert client.get("/api/health/ready").status_code == 200


def test_deploy_all_stops_at_a_failed_build(deployed: Deployment, tmp_path: Path):
    project = copy_of(deployed, tmp_path)
    dockerfile = next(project.glob("*/backend/Dockerfile"))
    dockerfile.write_text(dockerfile.read_text().replace("COPY . .", "COPY . .\nRUN exit 3"))
    before = deployed.containers()
    result = deployed.run("deploy_all", project=project)
    assert result.returncode == 1
    assert "building the backend image failed" in result.stderr
    assert "deploy_all failed on the server (reason above)" in result.stderr
    assert "building the frontend image" not in result.stderr
    assert_site_unchanged(deployed, before)


def test_a_full_disk_on_the_server_stops_the_step(deployed: Deployment):
    uploads = deployed.server.remote_dir / ".deploy"
    before = deployed.containers()
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16k,mode=0777", "tmpfs", str(uploads)], check=True
    )
    try:
        result = deployed.run("deploy_frontend_no_port")
    finally:
        subprocess.run(["umount", str(uploads)], check=True)
    assert result.returncode == 1
    assert "uploading to" in result.stderr and "is the disk full" in result.stderr
    assert_site_unchanged(deployed, before)


def test_an_unhealthy_dependency_stops_the_step_and_status_says_which(deployed: Deployment):
    deployed.engine.docker("stop", "closo_storage")
    try:
        status = deployed.run("status")
        assert status.returncode == 1
        assert re.search(r"FAIL\s+storage\s+exited", status.stdout), status.stdout
        assert "problem(s) found" in status.stderr
        before = deployed.containers()
        result = deployed.run("deploy_backend")
        assert result.returncode == 1
        assert "storage is not running healthy (exited" in result.stderr
        assert "deploy it first with deploy_slave_storage" in result.stderr
        assert deployed.containers() == before
    finally:
        deployed.engine.docker("start", "closo_storage")
    fixed = deployed.run("deploy_slave_storage")
    assert fixed.returncode == 0, fixed.stderr


def test_a_step_never_replaces_the_secrets_the_server_runs_with(deployed: Deployment, tmp_path):
    """A .env made elsewhere (a new clone, `stack.py secrets`) must not lock the backend out of
    the database that was created with the server's password."""
    project = copy_of(deployed, tmp_path)
    on_server = (deployed.server.remote_dir / ".env").read_bytes()
    env = (project / ".env").read_text()
    (project / ".env").write_text(env.replace(secrets_of(project)[0], "0" * 32))
    before = deployed.containers()
    result = deployed.run("deploy_bdd", project=project)
    assert result.returncode == 1
    assert "your .env has another POSTGRES_PASSWORD than the server's" in result.stderr
    assert (deployed.server.remote_dir / ".env").read_bytes() == on_server
    assert "0" * 32 not in result.stdout + result.stderr
    assert_site_unchanged(deployed, before)


def test_a_server_without_the_compose_plugin_is_told_what_to_install(
    deployed: Deployment, tmp_path
):
    stand_in = deployed.server.home / "bin-without-compose"  # where the deploy user can look
    stand_in.mkdir(exist_ok=True)
    (stand_in / "docker").write_text(
        "#!/bin/sh\necho \"docker: 'compose' is not a docker command.\" >&2\nexit 1\n"
    )
    (stand_in / "docker").chmod(0o755)
    with deployed.server.session_path(f"{stand_in}:/usr/bin:/bin"):
        result = deployed.run("deploy_bdd")
    assert result.returncode == 1
    assert "the docker compose plugin is missing" in result.stderr


def test_a_missing_env_stops_before_reaching_the_server(deployed: Deployment, tmp_path: Path):
    project = copy_of(deployed, tmp_path)
    (project / ".env").unlink()
    result = deployed.run("deploy_bdd", project=project)
    assert result.returncode == 1
    assert ".env not found in the project folder" in result.stderr


@pytest.mark.parametrize(
    "where", [{"SSH_PORT": "free"}, {"SSH_HOST": "no-such-server.invalid"}], ids=["port", "host"]
)
def test_a_wrong_ssh_address_is_reported_with_what_to_check(deployment: Deployment, where):
    env = {k: str(free_port()) if v == "free" else v for k, v in where.items()}
    result = deployment.run("deploy_bdd", **env)
    assert result.returncode == 1
    assert "cannot reach" in result.stderr
    assert "check SSH_HOST, SSH_PORT, SSH_USER" in result.stderr
