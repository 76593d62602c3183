"""Backups as an operator sees them: the stack's backup service on a real Docker engine, backing up
to SeaweedFS as the S3 repository, checked through `backup status`, `backup drill` and the site.

One deployment for the whole module (rendered with backup_repository=s3, built and started with
`docker compose up --wait` as the deploy scripts do), in the order an operator lives it: the first
backups on their own, a commit in the repository within a minute, a file snapshot after an upload,
a drill that passes, the repository unreachable for minutes (the site serves, status names it,
pg_wal stays bounded, the archive catches up), a wrong key, and last a damaged repository object.

Real: Debian's Docker Engine, the generated images and compose.yaml, pgBackRest and restic,
SeaweedFS over HTTPS (pgBackRest speaks only HTTPS to S3) with a CA of the test's own, reached
by the containers at the compose network's gateway under a name of its own (extra_hosts).
Stand-ins: the look-alike base images (support/docker/lookalike/README.md: Debian's pgBackRest
2.45 and restic 0.14 where Alpine's are newer); the outage is a firewall rule that refuses the
store's port, as a store that went away would.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.backups import BUCKET, DOMAIN, SLUG, STORE_NAME, BackupSite, backup_site
from support.docker.engine import Engine, wait_healthy
from support.docker.site import https_client
from support.seaweedfs import client
from support.services import services
from support.waiting import wait_for

pytestmark = pytest.mark.backups

PASSWORD = "a long and unusual passphrase"
QUEUE_MAX_MIB = 64
SEGMENT_MIB = 16
Site = BackupSite


@pytest.fixture(scope="module")
def site(docker_engine: Engine, session_tmp: Path) -> Iterator[Site]:
    settings = {
        # A minute, not the default ten: the outage test would wait that long.
        "BACKUP_STALE_MINUTES": "1",
        "BACKUP_WAL_QUEUE_MAX": f"{QUEUE_MAX_MIB}MiB",
    }
    with backup_site(docker_engine, session_tmp / "backups", settings) as booted:
        yield booted


def wait_status_ok(site: Site, timeout: float, what: str, *fields: str) -> dict:
    """`backup status` exits 0 (and the JSON has `fields` set); returns its JSON."""
    seen: dict = {}

    def ok() -> bool:
        code, line, document = site.status()
        seen.update(line=line, document=document)
        return code == 0 and all(document.get(field) for field in fields)

    try:
        wait_for(ok, timeout, interval=3, what=what)
    except AssertionError:
        raise AssertionError(f"{what}: {seen.get('line')}\n{seen.get('document')}") from None
    return seen["document"]


def commit(site: Site, note: str) -> str:
    """A committed row; returns the WAL segment holding it."""
    return site.sql(
        f"insert into ledger (note) values ('{note}'); "  # noqa: S608 - the tests' own notes
        "select pg_walfile_name(pg_current_wal_lsn())"
    ).splitlines()[-1]


def archived_past(site: Site, segment: str) -> bool:
    """Whether PostgreSQL's archiver has sent `segment` (pgBackRest confirmed it) or a later one."""
    last = site.sql("select coalesce(last_archived_wal, '') from pg_stat_archiver")
    return last[:24] >= segment


# --- On its own ----------------------------------------------------------------------------------
def test_the_first_backups_happen_by_themselves_and_status_says_ok(site: Site):
    states = wait_healthy(
        site.engine, [s.container for s in services(site.project).values() if s.healthcheck]
    )
    assert set(states.values()) == {"running healthy"}
    # Status is OK during the first hour before the first base backup: wait for both.
    document = wait_status_ok(
        site, 240, "a first base backup and file snapshot", "base_backup_at", "files_snapshot_at"
    )
    assert document["repository"] == "s3" and document["repository_survives_server_loss"]
    assert document["base_backup_type"] == "full" and document["base_backup_at"]
    assert document["files_snapshot_at"] and document["problems"] == []
    code, line, _ = site.status()
    assert code == 0 and line.startswith("backups OK (s3 repository")


def test_the_backup_service_has_no_privilege(site: Site):
    inspected = json.loads(site.engine.docker("inspect", f"{SLUG}_backup").stdout)[0]
    assert inspected["HostConfig"]["CapDrop"] == ["ALL"]
    assert inspected["Config"]["User"] == "postgres"
    mounts = {m["Destination"]: m for m in inspected["Mounts"]}
    assert not mounts["/var/lib/postgresql/data"]["RW"] and not mounts["/data"]["RW"]
    assert "/var/run/docker.sock" not in mounts


def test_a_commit_reaches_the_repository_within_70_seconds(site: Site):
    site.sql("create table if not exists ledger (id serial primary key, note text)")
    segment = commit(site, "must survive")
    committed = time.monotonic()
    wait_for(lambda: archived_past(site, segment), 90, interval=2, what=f"{segment} archived")
    seconds = time.monotonic() - committed
    assert seconds <= 70, f"the commit took {seconds:.0f} s to reach the repository"
    # What pgBackRest itself holds in the repository.
    info = json.loads(site.tool("pgbackrest info --output=json"))
    assert info[0]["archive"][0]["max"] >= segment


def test_an_upload_is_in_the_next_file_snapshot(site: Site):
    content = os.urandom(300_000)
    with https_client(DOMAIN) as web:
        assert (
            web.post(
                "/api/auth/register", json={"email": "ada@example.org", "password": PASSWORD}
            ).status_code
            == 201
        )
        token = web.post(
            "/api/auth/login", data={"username": "ada@example.org", "password": PASSWORD}
        ).json()["access_token"]
        uploaded = web.post(
            "/api/upload", headers={"Authorization": f"Bearer {token}"},
            files={"file": ("ledger.pdf", content, "application/pdf")},
        )  # fmt: skip
        assert uploaded.status_code == 201, uploaded.text
    before = site.status()[2]["files_snapshot_at"]
    done = site.backup("now")
    assert done.returncode == 0, done.stderr
    code, _, document = site.status()
    assert code == 0 and document["files_snapshot_at"] >= before
    listed = site.restic("ls latest --host files")
    # The download link names the stored file: /storage/files/<name>?...
    stored = uploaded.json()["url"].split("/storage/files/")[1].split("?")[0].split("/")[-1]
    assert stored and stored in listed, (stored, listed[-500:])


def test_the_restore_drill_passes_and_status_shows_it(site: Site):
    done = site.backup("drill")
    assert done.returncode == 0, done.stderr[-2000:]
    code, line, document = site.status()
    drill = document["drill"]
    assert drill["result"] == "passed", drill
    assert "row counts equal to production's" in drill["checked"]
    assert "sampled checksums equal to production's" in drill["checked"]
    assert code == 0 and "drill passed" in line


# --- When something goes wrong --------------------------------------------------------------------
def test_a_wrong_key_is_named_with_its_fix(site: Site):
    done = site.engine.docker(
        "compose", "run", "--rm", "--no-deps", "-T", "-e", "BACKUP_ENCRYPTION_KEY=" + "0" * 64,
        "backup", "backup", "status", cwd=site.project, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    line, _, document = done.stdout.partition("\n")
    assert line.startswith("backups FAILING: ")
    assert "cannot be read with BACKUP_ENCRYPTION_KEY" in line
    assert "put the right key back in .env" in line
    assert json.loads(document)["ok"] is False


def test_an_unreachable_repository_keeps_the_site_up_bounds_pg_wal_and_catches_up(site: Site):
    port = site.store_port
    rule = ["INPUT", "-p", "tcp", "--dport", port, "-j", "REJECT", "--reject-with", "tcp-reset"]
    base_before = site.status()[2]["base_backup_at"]
    subprocess.run(["iptables", "-I", *rule], check=True)
    try:
        seen: dict = {}

        def reported() -> bool:
            code, line, document = site.status()
            seen.update(line=line)
            return code == 1 and "unreachable" in line

        wait_for(reported, 120, interval=3, what="status naming the unreachable repository")
        assert f"S3 repository https://{STORE_NAME}:{port}" in seen["line"]
        # Writes go on, several times the queue's limit of WAL.
        site.sql(
            "create table ballast as select g, repeat(md5(g::text), 30) as filler "
            "from generate_series(1, 200000) g"
        )
        with https_client(DOMAIN) as web:
            assert web.get("/api/health").status_code == 200
        waiting: list[int] = []

        def bounded() -> bool:
            waiting.append(
                int(
                    site.sql(
                        "select count(*) from pg_ls_archive_statusdir() where name like '%.ready'"
                    )
                )
            )
            return waiting[-1] * SEGMENT_MIB <= QUEUE_MAX_MIB + 2 * SEGMENT_MIB

        wait_for(bounded, 180, interval=5, what="pg_wal's WAL waiting for the archive bounded")
        assert max(waiting) >= 1, "the outage never made WAL wait: the test proves nothing"
    finally:
        subprocess.run(["iptables", "-D", *rule], check=True)
    # Back: the archive catches up, and the scheduler takes a new base backup by itself (a tick
    # after status sees the repository again) that makes recovery whole from then on.
    document = wait_status_ok(site, 300, "the archive catching up after the outage")
    assert document["wal_segments_waiting"] == 0
    wait_for(
        lambda: site.status()[2].get("base_backup_at", "") > base_before,
        240, interval=5, what="a new base backup after the outage",
    )  # fmt: skip
    segment = commit(site, "after the outage")
    wait_for(lambda: archived_past(site, segment), 90, interval=2, what="a commit after the outage")


def test_a_damaged_repository_object_fails_the_drill_and_status(site: Site):
    """Last: the repository stays damaged."""
    s3 = client(site.store)
    packs = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="files/data/")["Contents"]]
    for key in packs:  # every pack: the drill's restore must read a damaged one
        body = bytearray(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
        body[len(body) // 2] ^= 0xFF
        s3.put_object(Bucket=BUCKET, Key=key, Body=bytes(body))
    done = site.backup("drill")
    assert done.returncode == 1
    code, line, document = site.status()
    assert code == 1
    assert line.startswith("backups FAILING: the last restore drill failed: restic")
    assert "Fix: run 'backup drill' again once this is fixed" in line
    assert document["drill"]["result"] == "failed"
