"""The operations on a deployment's data, run for real on the deploy layer's server: `status`'s
backup line, a restore to a moment from the backup service's repository (`restore TIME`), and a
PostgreSQL major upgrade and its way back (`upgrade_db`).

Real: the generated scripts over the deploy layer's sshd, its Docker engine and the deployment it
shares with the other modules (tests/deploy/conftest.py); PostgreSQL 15 and 17 in their look-alike
images (support/docker/lookalike/postgres: Debian's packages under the official names, where no
registry answers). The project for PostgreSQL 17 is the template rendered with
postgres_version=17: its compose.yaml and settings.env are what `copier update --data
postgres_version=17` writes into a deployment.
"""

from __future__ import annotations

import shutil
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from support.deployment import (
    DOMAIN,
    PASSWORD,
    Deployment,
    account,
    archive_now,
    copy_of,
    lose_the_server,
    on_server,
    sign_up,
    sql,
    volumes_kept_aside,
)
from support.docker.images import ensure_base_images
from support.project import read_env, render

pytestmark = pytest.mark.deploy


def server_version(deployed: Deployment) -> str:
    return sql(deployed, "SHOW server_version_num")[:2]


def db_volume(deployed: Deployment) -> str:
    return deployed.engine.docker(
        "inspect",
        "--format",
        '{{range .Mounts}}{{if eq .Destination "/var/lib/postgresql/data"}}{{.Name}}{{end}}{{end}}',
        "closo_db",
    ).stdout.strip()


def can_sign_in(deployed: Deployment, email: str) -> bool:
    with deployed.client() as client:
        login = client.post("/api/auth/login", data={"username": email, "password": PASSWORD})
    return login.status_code == 200


def account_with_file(deployed: Deployment, email: str, name: str, content: bytes, mime: str):
    """A new account (signed up) holding one uploaded file: the file's record."""
    with deployed.client() as client:
        sign_up(deployed, client, email)
        headers = account(client, email)
        record = client.post(
            "/api/upload", headers=headers, files={"file": (name, content, mime)}
        ).json()
    return record


def with_postgres(deployed: Deployment, tmp_path: Path, version: str) -> Path:
    """A copy of the deployment's project whose answer postgres_version is `version`."""
    project = copy_of(deployed, tmp_path)
    rendered = render(tmp_path / f"rendered-{version}", postgres_version=version)
    for name in ("compose.yaml", "settings.env"):
        shutil.copy(rendered / name, project / name)
    ensure_base_images(deployed.engine, [f"postgres:{version}-alpine"])
    return project


def test_status_shows_the_backups_and_fails_when_the_backup_service_does_not_answer(
    deployed: Deployment,
):
    result = deployed.run("status")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "backups: backups OK (local repository" in result.stdout, result.stdout
    assert "does NOT survive the loss of the server" in result.stdout
    deployed.engine.docker("stop", "closo_backup")
    try:
        stopped = deployed.run("status")
    finally:
        deployed.engine.docker("start", "closo_backup")
    assert stopped.returncode == 1
    assert "backups: " in stopped.stdout and "problem(s) found" in stopped.stderr


def test_restore_to_a_moment_brings_back_a_deleted_account_and_drops_later_writes(
    deployed: Deployment, tmp_path: Path
):
    """An account and its file, backed up; the moment noted; then the account deleted by
    mistake and another one created. `restore <moment>` from the repository: the account and
    its file are back byte for byte, the later account is not; the replaced volumes are kept."""
    content = b"%PDF-1.4 signed before the mistake\n" * 2000
    record = account_with_file(
        deployed, "deleted-by-mistake@example.org", "deed.pdf", content, "application/pdf"
    )
    on_server(deployed, "exec", "-T", "backup", "backup", "now")
    time.sleep(1.2)
    moment = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    time.sleep(1.2)
    with deployed.client() as client:
        admin = account(
            client,
            read_env(deployed.project / "settings.env")["FIRST_ADMIN_EMAIL"],
            read_env(deployed.project / ".env")["FIRST_ADMIN_PASSWORD"],
        )
        users = client.get("/api/users?limit=100", headers=admin).json()["items"]
        (victim,) = [u for u in users if u["email"] == "deleted-by-mistake@example.org"]
        deleted = client.delete(
            f"/api/users/{victim['id']}",
            params={"confirm_email": victim["email"]},
            headers=admin,
        )
        assert deleted.status_code == 204, deleted.text
        sign_up(deployed, client, "after-the-moment@example.org")
    assert not can_sign_in(deployed, "deleted-by-mistake@example.org")
    archive_now(deployed)

    refused = deployed.run("restore", moment, CONFIRM_DOMAIN="example.org")
    assert refused.returncode == 1 and "not confirmed" in refused.stderr
    bad = deployed.run("restore", "2026-12-06T14:03Z", CONFIRM_DOMAIN=DOMAIN)
    assert bad.returncode == 1 and "2026-12-06T14:03:00Z" in bad.stderr, bad.stderr

    restored = deployed.run("restore", moment, CONFIRM_DOMAIN=DOMAIN)
    deployed.timings["restore to a moment"] = deployed.last_seconds
    output = restored.stdout + restored.stderr
    assert restored.returncode == 0, output
    assert f"restored to {moment} in " in output and "unavailable for " in output
    assert not can_sign_in(deployed, "after-the-moment@example.org")
    with deployed.client() as client:
        headers = account(client, "deleted-by-mistake@example.org")
        files = client.get("/api/files", headers=headers).json()["items"]
        assert [f["name"] for f in files] == ["deed.pdf"]
        link = client.get(f"/api/files/{record['id']}", headers=headers).json()["url"]
        assert client.get(link).content == content
    kept = volumes_kept_aside(deployed)
    assert len(kept) == 2 and "docker volume rm" in output
    assert all(name in output for name in kept), output
    deployed.engine.docker("volume", "rm", *kept)


def test_upgrade_db_moves_the_data_to_postgres_17_and_the_way_back_returns_to_15(
    deployed: Deployment, tmp_path: Path
):
    content = b"kept across the upgrade\n" * 500
    record = account_with_file(deployed, "upgraded@example.org", "notes.txt", content, "text/plain")
    assert (server_version(deployed), db_volume(deployed)) == ("15", "closo_postgres_data")
    project17 = with_postgres(deployed, tmp_path, "17")

    # A deploy with the new answer would start an empty database: it stops and says what to run.
    refused = deployed.run("deploy_bdd", project=project17)
    assert refused.returncode == 1
    assert "run upgrade_db, which moves the data there" in refused.stderr, refused.stderr
    assert (server_version(deployed), db_volume(deployed)) == ("15", "closo_postgres_data")

    upgraded = deployed.run("upgrade_db", project=project17)
    deployed.timings["upgrade_db 15 -> 17"] = deployed.last_seconds
    assert upgraded.returncode == 0, upgraded.stdout + upgraded.stderr
    assert "PostgreSQL 15 -> 17 done" in upgraded.stderr
    assert "same tables and row counts" in upgraded.stderr
    assert "docker volume rm closo_postgres_data" in upgraded.stderr
    assert (server_version(deployed), db_volume(deployed)) == ("17", "closo_postgres_data_17")
    with deployed.client() as client:
        headers = account(client, "upgraded@example.org")
        files = client.get("/api/files", headers=headers).json()["items"]
        assert [f["name"] for f in files] == ["notes.txt"]
        assert client.get(record["url"]).content == content
        sign_up(deployed, client, "on-17@example.org")

    again = deployed.run("upgrade_db", project=project17)
    assert again.returncode == 0 and "nothing to do" in again.stderr, again.stderr

    # The way back: the answer back to 15, upgrade_db again: the old volume as it was.
    back = deployed.run("upgrade_db")
    deployed.timings["upgrade_db way back"] = deployed.last_seconds
    assert back.returncode == 0, back.stdout + back.stderr
    assert "switching back to it as it is" in back.stderr
    assert (server_version(deployed), db_volume(deployed)) == ("15", "closo_postgres_data")
    assert can_sign_in(deployed, "upgraded@example.org")
    assert not can_sign_in(deployed, "on-17@example.org")
    volumes = deployed.engine.docker("volume", "ls", "--format", "{{.Name}}").stdout.split()
    assert "closo_postgres_data_17" in volumes, "the upgraded volume was not kept"
    deployed.engine.docker("volume", "rm", "closo_postgres_data_17")


def test_disaster_recovery_brings_the_site_back_onto_an_empty_server(
    deployed: Deployment,
):
    """The server lost: every container, every volume and the deployment folder gone. A server
    that has only what a new one would (the harness's compose.override.yaml, which points certbot
    at Pebble) and the backup repository gets `deploy_all` (an empty site, a new certificate),
    then `restore latest`: the account signs in, its file is back byte for byte, the certificate
    verifies, `status` is clean.

    Stand-in: the repository here is the `local` one, a volume kept through the loss; a real
    disaster needs an `s3` repository (the backups layer runs that one against SeaweedFS). The
    images are kept too: they are built from the same project, as the first deploy_all does."""
    content = b"\x89PNG survived the loss of the server\n" * 3000
    record = account_with_file(deployed, "survivor@example.org", "photo.png", content, "image/png")
    on_server(deployed, "exec", "-T", "backup", "backup", "now")
    archive_now(deployed)

    lose_the_server(deployed)

    empty = deployed.run("deploy_all")
    deployed.timings["deploy_all onto the empty server"] = deployed.last_seconds
    assert empty.returncode == 0, empty.stdout + empty.stderr
    assert not can_sign_in(deployed, "survivor@example.org")

    restored = deployed.run("restore", "latest", CONFIRM_DOMAIN=DOMAIN)
    deployed.timings["restore latest onto the empty server"] = deployed.last_seconds
    assert restored.returncode == 0, restored.stdout + restored.stderr
    with deployed.client() as client:  # verifies the new certificate's chain for the domain
        headers = account(client, "survivor@example.org")
        files = client.get("/api/files", headers=headers).json()["items"]
        assert [f["name"] for f in files] == ["photo.png"]
        link = client.get(f"/api/files/{record['id']}", headers=headers).json()["url"]
        assert client.get(link).content == content
    status = deployed.run("status")
    assert status.returncode == 0, status.stdout + status.stderr
    kept = volumes_kept_aside(deployed)
    deployed.engine.docker("volume", "rm", *kept)
