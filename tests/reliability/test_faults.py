"""Faults against a natively booted stack: a service killed, PostgreSQL stopped under load, the
stack taken down and up, a backup restored into a fresh deployment.

Real parts only: PostgreSQL, nginx over TLS, the services under uvicorn, processes killed with real
signals. Every case checks what a user sees (status, JSON message, headers, bytes) and that nothing
is lost: each acknowledged upload is listed and downloads with its sha256, and the storage volume
holds exactly the files the database has rows for.

The tests share one stack of this module, and each starts from a known state: `fault_stack` brings
it back to every service running and the backend ready (restarting it whole if a service came back
where the others do not look), whatever the previous test broke or left.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from support.api import (
    PASSWORD,
    admin_headers,
    all_files,
    all_users,
    assert_served,
    assert_volume_matches_database,
    bearer,
    db_stored_names,
    disk_files,
    edge_client,
    login,
    register_and_login,
    reset_stack,
    sql,
    temp_files,
    tls_context,
    upload,
    upload_ok,
    without_links,
)
from support.processes import pid_alive, wait_dead
from support.project import PG_BIN, Stack, boot_stack, in_site_language
from support.waiting import wait_for

pytestmark = pytest.mark.reliability

# A user waits this long at most for "try again" when a dependency is down.
OUTAGE_ANSWER_SECONDS = 5
# Longer than the backend's connection-pool timeouts (10 s): a real outage, not a blip.
PG_OUTAGE_SECONDS = 12
# The backend serves again within this time once its database is back.
RECOVERY_SECONDS = 10


@pytest.fixture(scope="module")
def booted_fault_stack(session_tmp: Path):
    """A stack of this module's own: the fault tests kill and restart its parts."""
    booted = boot_stack(
        session_tmp / "reliability-faults", settings={"AUTH_RATE_PER_MINUTE": "600"}
    )
    yield booted
    booted.down()


@pytest.fixture
def fault_stack(booted_fault_stack: Stack) -> Stack:
    """The module's stack, reset before each test to every service running and the backend ready
    (its database and storage reachable), whatever the test before stopped or moved."""
    reset_stack(booted_fault_stack)
    return booted_fault_stack


@pytest.fixture
def fault_client(fault_stack: Stack):
    """Per test: a restart of the whole stack may move the edge to other ports."""
    with edge_client(fault_stack) as client:
        yield client


@pytest.fixture
def fault_user(fault_client: httpx.Client):
    """A new account per test: each test counts its own files."""
    return register_and_login(fault_client, "fault")


def test_upload_dropped_mid_way_leaves_no_row_and_no_file(fault_stack, fault_client, fault_user):
    files_before, rows_before = disk_files(fault_stack), db_stored_names(fault_stack)
    boundary = "reliabilityboundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="cut.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    declared = 8 * 1024 * 1024
    request = (
        "POST /api/upload HTTP/1.1\r\nHost: localhost\r\n"
        f"Authorization: Bearer {fault_user['token']}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
        f"Content-Length: {declared}\r\n\r\n"
    ).encode()
    sock = socket.create_connection(("127.0.0.1", fault_stack.port("nginx")), timeout=10)
    tls = tls_context(fault_stack).wrap_socket(sock, server_hostname="localhost")
    try:
        tls.sendall(request + head)
        for _ in range(24):  # 3 MB of the declared 8
            tls.sendall(os.urandom(128 * 1024))
        # The bytes reached the storage volume: the cut really happens mid-transfer.
        wait_for(
            lambda: bool(temp_files(fault_stack)), 10, interval=0.1, what="the upload in storage"
        )
    finally:
        tls.close()
    # Everything the cut upload wrote is removed; no row appears.
    assert_volume_matches_database(fault_stack)
    assert disk_files(fault_stack) == files_before
    assert db_stored_names(fault_stack) == rows_before
    assert all_files(fault_client, fault_user["headers"]) == []
    # The service still takes uploads.
    upload_ok(fault_client, fault_user["headers"], "after-cut.txt", b"still working\n")
    assert_volume_matches_database(fault_stack)


def test_storage_killed_uploads_answer_503_then_recover(fault_stack, fault_client, fault_user):
    headers = fault_user["headers"]
    earlier = {}
    for index, size in enumerate((10, 70_000, 400_000)):
        content = os.urandom(size)
        earlier[upload_ok(fault_client, headers, f"earlier-{index}.bin", content)["url"]] = content
    rows_before = db_stored_names(fault_stack)
    backend_pid = fault_stack.refresh()["services"]["backend"]["pid"]
    storage_pid = fault_stack.status["services"]["storage"]["pid"]
    storage_port = fault_stack.port("storage")
    os.kill(storage_pid, signal.SIGKILL)
    wait_dead(storage_pid)
    try:
        started = time.monotonic()
        refused = upload(fault_client, headers, "during-outage.txt", b"x" * 50_000)
        elapsed = time.monotonic() - started
        assert refused.status_code == 503, refused.text
        assert refused.json()["detail"] == in_site_language(
            fault_stack,
            fr="Le service de stockage des fichiers est indisponible : réessayez dans un instant.",
            en="The file storage service is unavailable; try again in a moment.",
        )
        assert elapsed < 5, f"the 503 took {elapsed:.1f} s"
        assert db_stored_names(fault_stack) == rows_before, "a row was created for a failed upload"
        assert len(all_files(fault_client, headers)) == len(earlier)
        # The backend itself stays up and says what is down.
        assert fault_client.get("/api/health").status_code == 200
        # Readiness answers may be up to a second old (the public check is cheap: issue 27).
        wait_for(
            lambda: fault_client.get("/api/health/ready").status_code == 503,
            timeout=5,
            interval=0.3,
            what="readiness to report storage down",
        )
        ready = fault_client.get("/api/health/ready")
        assert ready.status_code == 503, ready.text
        assert ready.json()["checks"] == {"database": "ok", "storage": "unreachable"}
        # Downloads fail cleanly while storage is down (the edge's JSON, no HTML or traceback).
        down = fault_client.get(next(iter(earlier)))
        assert down.status_code in (502, 503), down.text
        assert "detail" in down.json()
    finally:
        fault_stack.up()  # restarts what is not running: storage
    problems = []
    with contextlib.ExitStack() as closing:
        if fault_stack.port("storage") != storage_port:
            # The running backend still sends to the old port: only a restart of everything helps.
            problems.append(
                f"`up` restarted storage on port {fault_stack.port('storage')}; the running "
                f"backend still uses {storage_port}: {fault_client.get('/api/health/ready').text}"
            )
            fault_stack.down()
            fault_stack.up()
            fault_client = closing.enter_context(edge_client(fault_stack))  # the edge moved too
        else:
            assert fault_stack.status["services"]["backend"]["pid"] == backend_pid
        wait_for(
            lambda: fault_client.get("/api/health/ready").status_code == 200,
            timeout=5,
            interval=0.3,
            what="readiness to report storage back",
        )
        content = os.urandom(123_456)
        after = upload_ok(fault_client, headers, "after-restart.bin", content)
        assert_served(fault_client, {**earlier, after["url"]: content})
        assert_volume_matches_database(fault_stack)
    assert not problems, problems


def _pg_ctl(stack: Stack, *args: str) -> None:
    """pg_ctl on the stack's cluster, as the `postgres` user (the runner's own options)."""
    base = stack.state_dir / "postgres"
    command = [str(PG_BIN / "pg_ctl"), "-D", str(base / "data"), "-m", "fast", "-w", *args]
    if args[0] == "start":
        options = f"-p {stack.port('postgres')} -k {base} -c listen_addresses=127.0.0.1"
        command += ["-l", str(stack.state_dir / "logs" / "postgres.log"), "-o", options]
    if os.geteuid() == 0:
        command = ["runuser", "-u", "postgres", "--", *command]
    subprocess.run(command, check=True, capture_output=True, timeout=60)


def test_postgres_restart_under_load_fails_cleanly_and_recovers(
    fault_stack, fault_client, fault_user
):
    """Four clients read and upload while PostgreSQL stops for longer than any pool timeout.

    During the outage every failure is a prompt 503 with a message (no 500, no traceback, no
    request left hanging); once the database is back the same backend process serves again.
    """
    headers = fault_user["headers"]
    backend_pid = fault_stack.refresh()["services"]["backend"]["pid"]
    phase = ["before"]
    stop = threading.Event()
    # (phase the answer came in, request, status or "timeout", body, seconds)
    seen: list[tuple[str, str, int | str, str, float]] = []
    uploaded: dict[str, bytes] = {}

    def client_loop(worker: int) -> None:
        with edge_client(fault_stack, timeout=OUTAGE_ANSWER_SECONDS + 3) as client:
            count = 0
            while not stop.is_set():
                count += 1
                kind, began = ("me", "files", "upload")[count % 3], time.monotonic()
                content = os.urandom(20_000 + worker)
                try:
                    if kind == "me":
                        answer = client.get("/api/users/me", headers=headers)
                    elif kind == "files":
                        answer = client.get("/api/files", headers=headers)
                    else:
                        answer = upload(client, headers, f"load-{worker}-{count}.bin", content)
                except httpx.TimeoutException:
                    seen.append((phase[0], kind, "timeout", "", time.monotonic() - began))
                    continue
                if kind == "upload" and answer.status_code == 201:
                    uploaded[answer.json()["url"]] = content
                seen.append(
                    (phase[0], kind, answer.status_code, answer.text, time.monotonic() - began)
                )
                time.sleep(0.02)

    def recovered() -> bool:
        try:
            return all(
                fault_client.get(
                    path, headers=headers, timeout=OUTAGE_ANSWER_SECONDS + 3
                ).status_code
                == 200
                for path in ("/api/users/me", "/api/files")
            )
        except httpx.TimeoutException:
            return False

    problems = []
    with ThreadPoolExecutor(4) as pool:
        workers = [pool.submit(client_loop, n) for n in range(4)]
        try:
            time.sleep(1)
            phase[0] = "outage"
            _pg_ctl(fault_stack, "stop")
            time.sleep(PG_OUTAGE_SECONDS)
            _pg_ctl(fault_stack, "start")  # same port, same data
            phase[0] = "after"
            back = time.monotonic()
            try:
                wait_for(recovered, RECOVERY_SECONDS, interval=0.1)
            except AssertionError:
                problems.append(f"still failing {RECOVERY_SECONDS} s after the database came back")
                # Give it time to recover anyway, so the rest of the checks (and the next
                # tests) run; a backend that never recovers fails here.
                wait_for(recovered, 120, interval=0.1, what="recovery")
            print(f"serving again {time.monotonic() - back:.1f} s after the database came back")
            time.sleep(1)
        finally:
            stop.set()
            if phase[0] != "after":
                _pg_ctl(fault_stack, "start")
        for worker in workers:
            worker.result()

    statuses = Counter((p, status) for p, _, status, _, _ in seen)
    print(statuses)
    unclean = [
        (p, kind, status, body[:200])
        for p, kind, status, body, _ in seen
        if status not in (200, 201, 503, "timeout")
    ]
    assert not unclean, f"unclean answers: {unclean[:5]} (all: {statuses})"
    assert not [body for *_, body, _ in seen if "Traceback" in body]
    database_down = in_site_language(
        fault_stack,
        fr="La base de données est indisponible : réessayez dans un instant.",
        en="The database is unavailable; try again in a moment.",
    )
    edge_unavailable = in_site_language(
        fault_stack,
        fr="Le service est indisponible un instant : réessayez bientôt.",
        en="The service is unavailable for a moment: try again shortly.",
    )
    for *_, status, body, _ in seen:
        if status == 503:  # the backend's sentence, or the edge's own one
            detail = httpx.Response(503, content=body).json()["detail"]
            assert detail in (database_down, edge_unavailable), detail
    assert statuses[("outage", 503)] + statuses[("outage", "timeout")] > 0, statuses
    assert statuses[("before", 503)] == 0, statuses
    assert fault_stack.refresh()["services"]["backend"]["pid"] == backend_pid
    # Nothing acknowledged was lost, nothing refused was kept.
    # Links are renewed every minute: compare the files they name.
    listed = {record["url"].split("?")[0] for record in all_files(fault_client, headers)}
    # Every acknowledged upload is kept. A request that failed during the outage may still be
    # listed if its COMMIT took effect as the connection dropped: then its file is there too.
    kept = {url.split("?")[0] for url in uploaded}
    assert kept <= listed, sorted(kept - listed)
    assert_served(fault_client, uploaded)
    assert_volume_matches_database(fault_stack)
    # Many requests at once after recovery: every pooled connection works again.
    with ThreadPoolExecutor(12) as pool:
        answers = list(
            pool.map(lambda _: fault_client.get("/api/users/me", headers=headers), range(36))
        )
    if [a.status_code for a in answers] != [200] * 36:
        problems.append(f"after recovery: {Counter(a.status_code for a in answers)}")
    slow = sorted(
        (round(seconds, 1), p, kind, status)
        for p, kind, status, _, seconds in seen
        if seconds > OUTAGE_ANSWER_SECONDS and status not in (200, 201)
    )
    if slow:
        problems.append(
            f"{len(slow)} requests took over {OUTAGE_ANSWER_SECONDS} s to fail "
            f"(seconds, phase, request, status): {slow[-8:]}"
        )
    assert not problems, "\n".join(problems)


def test_up_after_a_database_stop_restarts_it_where_the_backend_looks(
    fault_stack, fault_client, fault_user
):
    """The operator's path: PostgreSQL stopped (after traffic), then `stack.py up` brings it back.

    The running backend keeps the database port it was started with, so `up` must restart
    PostgreSQL on that same port.
    """
    headers = fault_user["headers"]
    # Concurrent requests open many pooled connections; PostgreSQL closes them when it stops,
    # which leaves its port in TIME_WAIT for a while.
    with ThreadPoolExecutor(12) as pool:
        answers = list(
            pool.map(lambda _: fault_client.get("/api/files", headers=headers), range(48))
        )
    assert {a.status_code for a in answers} == {200}
    port = fault_stack.port("postgres")
    _pg_ctl(fault_stack, "stop")
    # Requests during the outage make the backend close its dead connections.
    for _ in range(3):
        with contextlib.suppress(httpx.TimeoutException):
            fault_client.get("/api/files", headers=headers, timeout=2)
    fault_stack.up()
    moved_to = fault_stack.port("postgres")
    # (A stack left unready here is restarted whole by the next test's `fault_stack`.)
    assert moved_to == port, (
        f"`up` restarted PostgreSQL on port {moved_to}; the running backend still uses {port}"
    )
    wait_for(
        lambda: fault_client.get("/api/files", headers=headers).status_code == 200,
        RECOVERY_SECONDS,
        interval=0.1,
        what="the backend reaching the restarted database",
    )


def test_down_then_up_keeps_every_user_file_row_and_byte(fault_stack, fault_client, fault_user):
    headers = fault_user["headers"]
    contents = {}
    for index, size in enumerate((1, 4096, 250_000, 1_100_000)):
        content = os.urandom(size)
        contents[upload_ok(fault_client, headers, f"keep-{index}.bin", content)["url"]] = content
    admin = admin_headers(fault_client, fault_stack)
    users_before = all_users(fault_client, admin)
    files_before = all_files(fault_client, headers)
    disk_before = disk_files(fault_stack)
    rows_before = sql(fault_stack, "SELECT id, stored_name, sha256, size FROM files ORDER BY id")
    pids = {name: s["pid"] for name, s in fault_stack.refresh()["services"].items() if s["pid"]}

    fault_stack.down()
    for name, pid in pids.items():
        assert not pid_alive(pid), f"{name} ({pid}) survived `down`"
    fault_stack.up()

    assert all(s["healthy"] for s in fault_stack.status["services"].values()), fault_stack.status
    with edge_client(fault_stack) as client:  # new connections: the old ones died with nginx
        assert login(client, fault_user["email"], PASSWORD)
        admin = admin_headers(client, fault_stack)
        assert all_users(client, admin) == users_before
        assert without_links(all_files(client, headers)) == without_links(files_before)
        assert_served(client, contents)
    assert disk_files(fault_stack) == disk_before
    assert sql(fault_stack, "SELECT id, stored_name, sha256, size FROM files ORDER BY id") == (
        rows_before
    )
    assert_volume_matches_database(fault_stack)


def test_backup_then_restore_into_a_fresh_stack(fault_stack, session_tmp):
    """What scripts/prod/remote.sh `backup` and `restore` do, on native stacks.

    The same formats and flags as the scripts: `pg_dump -Fc`, `tar -czf - -C <volume> .`, then on
    a freshly generated deployment (its own secrets): backend and storage stopped, `pg_restore
    --clean --if-exists --no-owner --single-transaction`, the volume emptied and unpacked, `up`.
    Users log in with their old passwords and every file is served with the same bytes.
    """
    with edge_client(fault_stack) as client:
        user = register_and_login(client, "backup")
        contents = {}
        for index, size in enumerate((3, 70_000, 600_000)):
            content = os.urandom(size)
            record = upload_ok(client, user["headers"], f"backup-{index}.bin", content)
            contents[record["id"]] = content
        admin = admin_headers(client, fault_stack)
        users_before = all_users(client, admin)
        files_before = all_files(client, user["headers"])
    disk_before = disk_files(fault_stack)

    backup = session_tmp / "reliability-backup"
    backup.mkdir()
    pg_env = {**os.environ, "PGPASSWORD": fault_stack.env["POSTGRES_PASSWORD"]}
    with open(backup / "db.dump", "wb") as dump:
        subprocess.run(
            [str(PG_BIN / "pg_dump"), "-h", "127.0.0.1", "-p", str(fault_stack.port("postgres")),
             "-U", fault_stack.env["POSTGRES_USER"], "-d", fault_stack.env["POSTGRES_DB"], "-Fc"],
            stdout=dump, env=pg_env, check=True, timeout=60,
        )  # fmt: skip
    volume = fault_stack.state_dir / "storage_data"
    with open(backup / "storage.tar.gz", "wb") as archive:
        subprocess.run(["tar", "-czf", "-", "-C", str(volume), "."], stdout=archive, check=True)

    fresh = boot_stack(session_tmp / "reliability-restored")
    try:
        assert fresh.env["SECRET_KEY"] != fault_stack.env["SECRET_KEY"]
        for name in ("backend", "storage"):  # `compose stop backend storage`
            pid = fresh.refresh()["services"][name]["pid"]
            os.kill(pid, signal.SIGTERM)
            wait_dead(pid)
        with open(backup / "db.dump", "rb") as dump:
            restored = subprocess.run(
                [str(PG_BIN / "pg_restore"), "-h", "127.0.0.1", "-p", str(fresh.port("postgres")),
                 "-U", fresh.env["POSTGRES_USER"], "-d", fresh.env["POSTGRES_DB"],
                 "--clean", "--if-exists", "--no-owner", "--single-transaction"],
                stdin=dump, capture_output=True, text=True, timeout=60,
                env={**os.environ, "PGPASSWORD": fresh.env["POSTGRES_PASSWORD"]},
            )  # fmt: skip
        assert restored.returncode == 0, restored.stderr
        fresh_volume = fresh.state_dir / "storage_data"
        for child in fresh_volume.iterdir():
            shutil.rmtree(child) if child.is_dir() else child.unlink()
        with open(backup / "storage.tar.gz", "rb") as archive:
            subprocess.run(["tar", "-xzf", "-", "-C", str(fresh_volume)], stdin=archive, check=True)
        fresh.up()

        with edge_client(fresh) as client:
            headers = bearer(login(client, user["email"], PASSWORD))
            listed = all_files(client, headers)
            assert without_links(listed) == without_links(files_before)
            # The restored stack signs links with its own key: fresh links from the list.
            assert_served(client, {f["url"]: contents[f["id"]] for f in listed})
            old_admin = bearer(
                login(client, fault_stack.env["FIRST_ADMIN_EMAIL"],
                      fault_stack.env["FIRST_ADMIN_PASSWORD"])
            )  # fmt: skip
            assert all_users(client, old_admin) == users_before
        assert disk_files(fresh) == disk_before
        assert_volume_matches_database(fresh)
    finally:
        fresh.down()
