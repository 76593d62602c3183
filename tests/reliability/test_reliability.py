"""Reliability and security: faults, load and hostile input against stacks booted natively.

Real parts only: PostgreSQL, nginx over TLS, the services under uvicorn, processes killed with real
signals. Every case checks what a user sees (status, JSON message, headers, bytes) and that nothing
is lost or leaked: each acknowledged upload is listed and downloads with its sha256, and the storage
volume holds exactly the files the database has rows for.

Stacks: faults run in order on one stack of this module (`fault_stack`), each test leaving it
running; load uses the session's shared stack; hostile input a stack with a 2 MB upload limit and
the default login rate limit (`hostile_stack`). Traffic goes only to 127.0.0.1, bounded in count
and time.
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
import uuid
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
    assert_volume_matches_database,
    bearer,
    db_stored_names,
    disk_files,
    download_sha256,
    edge_client,
    jwt_claims,
    jwt_encode,
    jwt_with_claims,
    login,
    memory_kib,
    openapi_of,
    pid_alive,
    raw_exchange,
    raw_get,
    register_and_login,
    sha256,
    sql,
    status_of,
    temp_files,
    tls_context,
    upload,
    wait_for,
    without_links,
)
from support.project import PG_BIN, Stack, boot_stack, in_site_language

pytestmark = pytest.mark.reliability

# A user waits this long at most for "try again" when a dependency is down.
OUTAGE_ANSWER_SECONDS = 5
# Longer than the backend's connection-pool timeouts (10 s): a real outage, not a blip.
PG_OUTAGE_SECONDS = 12
# The backend serves again within this time once its database is back.
RECOVERY_SECONDS = 10


@pytest.fixture(scope="module")
def fault_stack(session_tmp: Path):
    """A stack of this module's own: the fault tests kill and restart its parts, in file order."""
    booted = boot_stack(
        session_tmp / "reliability-faults", settings={"AUTH_RATE_PER_MINUTE": "600"}
    )
    yield booted
    booted.down()


@pytest.fixture
def fault_client(fault_stack: Stack):
    """Per test: a restart of the whole stack may move the edge to other ports."""
    with edge_client(fault_stack) as client:
        yield client


@pytest.fixture
def fault_user(fault_client: httpx.Client):
    """A new account per test: each test counts its own files."""
    return register_and_login(fault_client, "fault")


def _wait_dead(pid: int, timeout: float = 10) -> None:
    wait_for(lambda: not pid_alive(pid), f"process {pid} still alive", timeout)


def _upload_ok(client: httpx.Client, headers: dict, name: str, content: bytes) -> dict:
    answer = upload(client, headers, name, content)
    assert answer.status_code == 201, answer.text
    record = answer.json()
    assert record["sha256"] == sha256(content) and record["size"] == len(content)
    return record


def _assert_served(client: httpx.Client, records: dict[str, bytes]) -> None:
    """Each file (url -> bytes) downloads through the edge with the same bytes."""
    for url, content in records.items():
        assert download_sha256(client, url) == sha256(content), url


# How far the backend's memory may grow while a login burst hits the edge: two argon2id hashes
# at a time (19 MiB each) and their buffers.
BACKEND_BURST_MEMORY_MIB = 96
# Generated examples per operation and authentication (bounded: the layer stays in minutes).
SCHEMATHESIS_EXAMPLES = 25


# --- faults -------------------------------------------------------------------------------------


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
        wait_for(lambda: bool(temp_files(fault_stack)), "the upload never reached storage", 10)
    finally:
        tls.close()
    # Everything the cut upload wrote is removed; no row appears.
    assert_volume_matches_database(fault_stack)
    assert disk_files(fault_stack) == files_before
    assert db_stored_names(fault_stack) == rows_before
    assert all_files(fault_client, fault_user["headers"]) == []
    # The service still takes uploads.
    _upload_ok(fault_client, fault_user["headers"], "after-cut.txt", b"still working\n")
    assert_volume_matches_database(fault_stack)


def test_storage_killed_uploads_answer_503_then_recover(fault_stack, fault_client, fault_user):
    headers = fault_user["headers"]
    earlier = {}
    for index, size in enumerate((10, 70_000, 400_000)):
        content = os.urandom(size)
        earlier[_upload_ok(fault_client, headers, f"earlier-{index}.bin", content)["url"]] = content
    rows_before = db_stored_names(fault_stack)
    backend_pid = fault_stack.refresh()["services"]["backend"]["pid"]
    storage_pid = fault_stack.status["services"]["storage"]["pid"]
    storage_port = fault_stack.port("storage")
    os.kill(storage_pid, signal.SIGKILL)
    _wait_dead(storage_pid)
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
        assert fault_client.get("/api/health/ready").status_code == 200
        content = os.urandom(123_456)
        after = _upload_ok(fault_client, headers, "after-restart.bin", content)
        _assert_served(fault_client, {**earlier, after["url"]: content})
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
                wait_for(recovered, "no recovery", RECOVERY_SECONDS)
            except AssertionError:
                problems.append(f"still failing {RECOVERY_SECONDS} s after the database came back")
                # Give it time to recover anyway, so the rest of the checks (and the next
                # tests) run; a backend that never recovers fails here.
                wait_for(recovered, "the backend never recovered", 120)
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
    _assert_served(fault_client, uploaded)
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
    try:
        assert moved_to == port, (
            f"`up` restarted PostgreSQL on port {moved_to}; the running backend still uses {port}"
        )
        wait_for(
            lambda: fault_client.get("/api/files", headers=headers).status_code == 200,
            "the backend does not reach the restarted database",
            RECOVERY_SECONDS,
        )
    finally:
        if moved_to != port:  # leave a working stack to the next tests: restart everything
            fault_stack.down()
            fault_stack.up()


def test_down_then_up_keeps_every_user_file_row_and_byte(fault_stack, fault_client, fault_user):
    headers = fault_user["headers"]
    contents = {}
    for index, size in enumerate((1, 4096, 250_000, 1_100_000)):
        content = os.urandom(size)
        contents[_upload_ok(fault_client, headers, f"keep-{index}.bin", content)["url"]] = content
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
        _assert_served(client, contents)
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
            record = _upload_ok(client, user["headers"], f"backup-{index}.bin", content)
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
            _wait_dead(pid)
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
            _assert_served(client, {f["url"]: contents[f["id"]] for f in listed})
            old_admin = bearer(
                login(client, fault_stack.env["FIRST_ADMIN_EMAIL"],
                      fault_stack.env["FIRST_ADMIN_PASSWORD"])
            )  # fmt: skip
            assert all_users(client, old_admin) == users_before
        assert disk_files(fresh) == disk_before
        assert_volume_matches_database(fresh)
    finally:
        fresh.down()


# --- load (the session's shared stack) -----------------------------------------------------------

UPLOAD_SIZES = (1, 1000, 4096, 65_537, 300_000, 1_200_000)


def test_20_clients_x_10_uploads_every_acknowledged_upload_is_kept(stack: Stack):
    with edge_client(stack) as client:
        users = [register_and_login(client, f"load{n}") for n in range(20)]

    def client_run(index: int) -> list[tuple[int, str, dict | str, bytes]]:
        results = []
        with edge_client(stack, timeout=60) as client:
            for n in range(10):
                content = os.urandom(UPLOAD_SIZES[(index + n) % len(UPLOAD_SIZES)])
                answer = upload(client, users[index]["headers"], f"load-{index}-{n}.bin", content)
                body = answer.json() if answer.status_code == 201 else answer.text
                results.append((answer.status_code, f"load-{index}-{n}.bin", body, content))
        return results

    started = time.monotonic()
    with ThreadPoolExecutor(20) as pool:
        runs = list(pool.map(client_run, range(20)))
    print(f"200 uploads by 20 clients in {time.monotonic() - started:.1f} s")
    statuses = Counter(status for run in runs for status, *_ in run)
    assert not [s for s in statuses if s >= 500], statuses
    assert statuses == {201: 200}, statuses
    with edge_client(stack) as client:
        for user, run in zip(users, runs, strict=True):
            listed = {record["id"]: record for record in all_files(client, user["headers"])}
            acknowledged = {body["id"]: (name, body, content) for _, name, body, content in run}
            assert set(listed) == set(acknowledged)
            for file_id, (name, body, content) in acknowledged.items():
                assert listed[file_id]["name"] == name
                assert listed[file_id]["sha256"] == body["sha256"] == sha256(content)
                assert download_sha256(client, body["url"]) == sha256(content)
    assert_volume_matches_database(stack)


def test_50_concurrent_registrations_of_one_email_make_one_account(stack: Stack):
    email = f"race.{uuid.uuid4().hex[:10]}@example.com"
    barrier = threading.Barrier(50)

    def register(_: int) -> httpx.Response:
        with edge_client(stack) as client:
            barrier.wait()
            return client.post("/api/auth/register", json={"email": email, "password": PASSWORD})

    with ThreadPoolExecutor(50) as pool:
        answers = list(pool.map(register, range(50)))
    statuses = Counter(answer.status_code for answer in answers)
    assert statuses == {201: 1, 409: 49}, statuses
    taken = in_site_language(
        stack,
        fr="Un compte existe déjà avec cette adresse e-mail : connectez-vous, ou utilisez une "
        "autre adresse.",
        en="An account with this e-mail address already exists.",
    )
    for answer in answers:
        if answer.status_code == 409:
            assert answer.json()["detail"] == taken
    with edge_client(stack) as client:
        assert login(client, email, PASSWORD)
        everyone = all_users(client, admin_headers(client, stack))
    assert [user["email"] for user in everyone].count(email) == 1


# --- the operator's one-time links and account deletion ------------------------------------------


def _token_of(issued: httpx.Response) -> str:
    assert issued.status_code == 201, issued.text
    return issued.json()["path"].rsplit("token=", 1)[1]


def test_one_time_links_used_twice_expired_or_by_another_email_are_refused(stack: Stack):
    """Invitations and password resets through the edge; expiry is set in the database (a real
    link waits INVITATION_HOURS), everything else is the running stack as a person meets it."""
    with edge_client(stack) as client:
        admin = admin_headers(client, stack)
        email = f"invited.{uuid.uuid4().hex[:10]}@example.com"
        token = _token_of(client.post("/api/invitations", headers=admin, json={"email": email}))

        def sign_up(address: str, invitation: str) -> httpx.Response:
            body = {"email": address, "password": PASSWORD, "invitation": invitation}
            return client.post("/api/auth/register", json=body)

        refusals = {
            "wrong e-mail": sign_up(f"other.{uuid.uuid4().hex[:6]}@example.com", token),
            "unknown": sign_up(email, token[::-1]),
        }
        assert sign_up(email, token).status_code == 201
        refusals["used twice"] = sign_up(email, token)
        late = f"late.{uuid.uuid4().hex[:10]}@example.com"
        expired = _token_of(client.post("/api/invitations", headers=admin, json={"email": late}))
        # The address is the test's own (hex): nothing to escape.
        sql(stack, f"UPDATE account_links SET expires_at = now() WHERE email = '{late}'")  # noqa: S608
        refusals["expired"] = sign_up(late, expired)

        user = register_and_login(client, "resetting")
        reset = _token_of(client.post(f"/api/users/{user['id']}/password-reset", headers=admin))

        def use_reset(address: str) -> httpx.Response:
            body = {"token": reset, "email": address, "new_password": "quartz heron violin 93"}
            return client.post("/api/auth/reset-password", json=body)

        refusals["reset, wrong e-mail"] = use_reset(email)
        assert use_reset(user["email"]).status_code == 204
        refusals["reset used twice"] = use_reset(user["email"])
        # The reset ended the user's session at once.
        assert client.get("/api/users/me", headers=user["headers"]).status_code == 401
        assert login(client, user["email"], "quartz heron violin 93")

    details = {
        name: (answer.status_code, answer.json()["detail"]) for name, answer in refusals.items()
    }
    assert {status for status, _ in details.values()} == {400}, details
    # Each reason has its own sentence, so the person knows what to do next.
    assert (
        len({details[name][1] for name in ("wrong e-mail", "unknown", "used twice", "expired")})
        == 4
    )
    assert details["reset used twice"][1] == details["used twice"][1]
    assert details["reset, wrong e-mail"][1] == details["wrong e-mail"][1]
    assert details["used twice"][1] == in_site_language(
        stack,
        fr="Ce lien a déjà servi : demandez-en un nouveau à un administrateur.",
        en="This link has already been used: ask an administrator for a new one.",
    )
    assert details["wrong e-mail"][1] == LINK_WRONG_EMAIL[stack.env["UI_LANGUAGE"]]
    assert details["expired"][1] == LINK_EXPIRED[stack.env["UI_LANGUAGE"]]


LINK_WRONG_EMAIL = {
    "fr": "Ce lien a été créé pour une autre adresse e-mail : utilisez celle à laquelle il a "
    "été envoyé.",
    "en": "This link was made for another e-mail address: use the address it was sent to.",
}
LINK_EXPIRED = {
    "fr": "Ce lien a expiré : demandez-en un nouveau à un administrateur.",
    "en": "This link has expired: ask an administrator for a new one.",
}


def test_one_time_links_work_until_their_time_and_are_refused_once_it_has_passed(stack: Stack):
    """A reset link and an invitation, issued through the edge with the lifetimes of settings.env
    (RESET_LINK_MINUTES, INVITATION_HOURS), then shortened to a few seconds in the database (a
    real wait would be half an hour): each is still good a moment before, the clock passes its
    time, and the real code path refuses it with the clear message; nothing changed meanwhile."""
    lifetime = 4  # seconds left after the shortening
    with edge_client(stack) as client:
        admin = admin_headers(client, stack)
        user = register_and_login(client, "expiring-reset")
        issued = client.post(f"/api/users/{user['id']}/password-reset", headers=admin)
        reset = _token_of(issued)
        invited = f"expiring.{uuid.uuid4().hex[:10]}@example.com"
        issued_invitation = client.post("/api/invitations", headers=admin, json={"email": invited})
        invitation = _token_of(issued_invitation)

        # The lifetimes are the settings' (measured on the database's clock, the stack's own).
        def seconds_left(email: str) -> float:
            # The addresses are the test's own (hex): nothing to escape.
            query = f"SELECT extract(epoch FROM expires_at - now()) FROM account_links WHERE email = '{email}'"  # noqa: E501, S608
            return float(sql(stack, query))

        reset_left, invitation_left = seconds_left(user["email"]), seconds_left(invited)
        assert abs(reset_left - int(stack.env["RESET_LINK_MINUTES"]) * 60) < 30, reset_left
        assert abs(invitation_left - int(stack.env["INVITATION_HOURS"]) * 3600) < 30
        sql(
            stack,
            f"UPDATE account_links SET expires_at = now() + interval '{lifetime} seconds' "  # noqa: S608
            f"WHERE email IN ('{user['email']}', '{invited}')",
        )
        shortened = time.monotonic()

        def use_reset(address: str) -> httpx.Response:
            body = {"token": reset, "email": address, "new_password": "pelican marble cove 58"}
            return client.post("/api/auth/reset-password", json=body)

        def sign_up(address: str) -> httpx.Response:
            body = {"email": address, "password": PASSWORD, "invitation": invitation}
            return client.post("/api/auth/register", json=body)

        # Still alive: refused only for the other address (the right one would use it up).
        stranger = f"stranger.{uuid.uuid4().hex[:6]}@example.com"
        alive = [use_reset(stranger), sign_up(stranger)]
        assert time.monotonic() - shortened < lifetime, "too slow to see the links alive"
        for answer in alive:
            assert answer.status_code == 400
            assert answer.json()["detail"] == LINK_WRONG_EMAIL[stack.env["UI_LANGUAGE"]]
        time.sleep(max(0.0, lifetime + 1 - (time.monotonic() - shortened)))
        expired = {"reset": use_reset(user["email"]), "invitation": sign_up(invited)}
        for kind, answer in expired.items():
            assert answer.status_code == 400, (kind, answer.text)
            assert answer.json()["detail"] == LINK_EXPIRED[stack.env["UI_LANGUAGE"]], kind
        # Nothing happened: the old password still works, the invited person has no account.
        assert login(client, user["email"], user["password"])
        assert client.get("/api/users/me", headers=user["headers"]).status_code == 200
        emails = [account["email"] for account in all_users(client, admin)]
        assert invited not in emails


def test_deleting_an_account_while_it_uploads_leaves_nothing_behind(stack: Stack):
    """An upload streams over TLS through the edge; half-way, the admin deletes the account. The
    upload is refused when it ends and neither its bytes nor a row remain."""
    with edge_client(stack) as client:
        admin = admin_headers(client, stack)
        user = register_and_login(client, "deleted-mid-upload")
        assert (
            upload(client, user["headers"], "kept-until-deletion.txt", b"x" * 1000).status_code
            == 201
        )
        boundary = "deletionboundary"
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        tail = f"\r\n--{boundary}--\r\n".encode()
        size = 3 * 1024 * 1024
        request = (
            "POST /api/upload HTTP/1.1\r\nHost: localhost\r\n"
            f"Authorization: Bearer {user['token']}\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
            f"Content-Length: {len(head) + size + len(tail)}\r\nConnection: close\r\n\r\n"
        ).encode()
        sock = socket.create_connection(("127.0.0.1", stack.port("nginx")), timeout=30)
        tls = tls_context(stack).wrap_socket(sock, server_hostname="localhost")
        try:
            tls.sendall(request + head)
            chunk = 128 * 1024
            for _ in range(size // chunk // 2):
                tls.sendall(os.urandom(chunk))
            wait_for(lambda: bool(temp_files(stack)), "the upload never reached storage", 10)
            deleted = client.delete(
                f"/api/users/{user['id']}", headers=admin, params={"confirm_email": user["email"]}
            )
            assert deleted.status_code == 204, deleted.text
            for _ in range(size // chunk // 2):
                tls.sendall(os.urandom(chunk))
            tls.sendall(tail)
            answer = b""
            while b"\r\n\r\n" not in answer:
                received = tls.recv(65536)
                if not received:
                    break
                answer += received
        finally:
            tls.close()
    assert status_of(answer) == 401, answer[:300]
    wait_for(lambda: not temp_files(stack), "the cut upload's bytes stayed in storage", 10)
    rows = sql(stack, f"SELECT count(*) FROM files WHERE owner_id = '{user['id']}'")  # noqa: S608
    assert rows == "0"
    assert_volume_matches_database(stack)


def test_a_locked_out_operator_resets_a_password_and_creates_an_admin_from_the_command_line(
    stack: Stack,
):
    """`stack.py manage` runs the backend's `python -m app.manage` against the running stack's
    database, as `docker compose exec backend python -m app.manage` does on a server."""
    with edge_client(stack) as client:
        user = register_and_login(client, "locked-out")
    printed = stack.run("manage", "reset-password", user["email"]).stdout.strip()
    new_password = printed.rsplit(" ", 1)[-1]  # the last word of the line, in either language
    ops = f"ops.{uuid.uuid4().hex[:10]}@example.com"
    ops_password = stack.run("manage", "create-admin", ops).stdout.strip().rsplit(" ", 1)[-1]
    with edge_client(stack) as client:
        assert client.get("/api/users/me", headers=user["headers"]).status_code == 401
        assert login(client, user["email"], new_password)
        ops_headers = bearer(login(client, ops, ops_password))
        audit = client.get("/api/audit", headers=ops_headers)
        assert audit.status_code == 200, audit.text
        latest = audit.json()["items"][:2]
    assert [(e["actor_email"], e["action"], e["target_email"]) for e in latest] == [
        ("command line", "create_admin", ops),
        ("command line", "reset_password", user["email"]),
    ]
    refused = stack.run("manage", "reset-password", "nobody.here@example.com", check=False)
    assert refused.returncode != 0
    assert "create-admin" in refused.stderr


# --- hostile input -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hostile_stack(session_tmp: Path):
    """Production settings, a 2 MB upload limit (cheap oversized bodies), the default login
    rate limit."""
    booted = boot_stack(session_tmp / "reliability-hostile", max_upload_mb=2)
    assert booted.env["AUTH_RATE_PER_MINUTE"] == "10"
    yield booted
    booted.down()


def test_login_burst_is_rate_limited_before_the_backend_memory_grows(hostile_stack: Stack):
    """120 logins at once from one address: the edge answers 429 past its burst (10), so the
    backend hashes only a few passwords and its memory stays within its bound."""
    with edge_client(hostile_stack) as client:
        created = client.post(
            "/api/auth/register", json={"email": "burst@example.com", "password": PASSWORD}
        )
        assert created.status_code == 201, created.text
    backend_pid = hostile_stack.refresh()["services"]["backend"]["pid"]
    baseline = memory_kib(backend_pid)["VmRSS"]
    peak = [baseline]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], memory_kib(backend_pid)["VmRSS"])
            time.sleep(0.01)

    def attempt(n: int) -> httpx.Response:
        with edge_client(hostile_stack) as client:
            password = PASSWORD if n % 2 else f"wrong password {n}"
            return client.post(
                "/api/auth/login", data={"username": "burst@example.com", "password": password}
            )

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        with ThreadPoolExecutor(24) as pool:
            answers = list(pool.map(attempt, range(120)))
    finally:
        done.set()
        sampler.join()
    statuses = Counter(answer.status_code for answer in answers)
    # The burst (10) and what the rate refills meanwhile reach the backend; the rest are refused.
    assert statuses[429] >= 120 - 10 - 3, statuses
    assert set(statuses) <= {200, 401, 429}, statuses
    for answer in answers:
        if answer.status_code == 429:
            assert answer.json()["detail"] == in_site_language(
                hostile_stack,
                fr="Trop de tentatives depuis votre adresse : attendez une minute, puis réessayez.",
                en="Too many attempts from your address: wait a minute, then try again.",
            )
            assert answer.headers["retry-after"] == "60"
    grown_mib = (peak[0] - baseline) / 1024
    print(f"backend RSS {baseline / 1024:.0f} MiB, peak +{grown_mib:.0f} MiB, {statuses}")
    assert grown_mib < BACKEND_BURST_MEMORY_MIB, f"backend RSS grew by {grown_mib:.0f} MiB"
    assert hostile_stack.refresh()["services"]["backend"]["pid"] == backend_pid
    assert hostile_stack.status["services"]["backend"]["healthy"]


def _run_schemathesis(schema: dict, base_url: str, headers: dict, checks: list) -> list[str]:
    """Every operation with bounded generated examples; returns the failures, one per operation."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings

    loaded = schemathesis.openapi.from_dict(schema)
    failures = []
    for result in loaded.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(
            max_examples=SCHEMATHESIS_EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
        )
        def run(case) -> None:
            case.call_and_validate(base_url=base_url, headers=headers, checks=checks, timeout=30)

        try:
            run()
        except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - listed per operation
            failures.append(f"{operation.label}: {exc}"[:1500])
    return failures


def _conformance_checks() -> list:
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
    )

    return [not_a_server_error, response_schema_conformance, content_type_conformance]


@pytest.fixture(scope="module")
def hostile_user(hostile_stack: Stack):
    """Signed up on the backend's own port: the login burst test may have used the edge's quota."""
    backend = f"http://127.0.0.1:{hostile_stack.port('backend')}"
    with httpx.Client(base_url=backend, timeout=30) as client:
        return register_and_login(client, "hostile")


@pytest.mark.parametrize("auth", ["no-token", "user-token"])
def test_schemathesis_backend_no_5xx_and_conforming_answers(hostile_stack, hostile_user, auth):
    """Generated requests straight to the backend's port (the edge's login limit stays out)."""
    schema = openapi_of(hostile_stack, "backend")
    headers = hostile_user["headers"] if auth == "user-token" else {}
    base = f"http://127.0.0.1:{hostile_stack.port('backend')}"
    failures = _run_schemathesis(schema, base, headers, _conformance_checks())
    assert not failures, "\n\n".join(failures)
    assert hostile_stack.refresh()["services"]["backend"]["healthy"]


@pytest.mark.parametrize("auth", ["no-token", "storage-token"])
def test_schemathesis_storage_no_5xx_and_conforming_answers(hostile_stack, auth):
    schema = openapi_of(hostile_stack, "storage")
    headers = bearer(hostile_stack.env["STORAGE_TOKEN"]) if auth == "storage-token" else {}
    base = f"http://127.0.0.1:{hostile_stack.port('storage')}"
    failures = _run_schemathesis(schema, base, headers, _conformance_checks())
    assert not failures, "\n\n".join(failures)
    assert hostile_stack.refresh()["services"]["storage"]["healthy"]


def test_backend_documents_every_status_it_answers(hostile_stack, hostile_user):
    """The OpenAPI document lists the statuses users get (401, 403, 404, 409, ...)."""
    from schemathesis.specs.openapi.checks import status_code_conformance

    schema = openapi_of(hostile_stack, "backend")
    base = f"http://127.0.0.1:{hostile_stack.port('backend')}"
    failures = _run_schemathesis(schema, base, hostile_user["headers"], [status_code_conformance])
    failures += _run_schemathesis(schema, base, {}, [status_code_conformance])
    assert not failures, "\n\n".join(failures)


@pytest.fixture(scope="module")
def shared_user(stack: Stack):
    with edge_client(stack) as client:
        user = register_and_login(client, "hostile")
        answer = client.post(
            "/api/auth/login", data={"username": user["email"], "password": PASSWORD}
        )
        user["refresh_token"] = answer.cookies["refresh_token"]
        stored = _upload_ok(client, user["headers"], "victim.txt", b"private bytes\n")
        user["url"] = stored["url"]  # a private link, valid for DOWNLOAD_LINK_MINUTES
        user["stored_name"] = stored["url"].split("?")[0].rsplit("/", 1)[1]
    return user


def _forged_tokens(stack: Stack, user: dict) -> dict[str, str]:
    key = stack.env["SECRET_KEY"].encode()
    claims = jwt_claims(user["token"])
    now = int(time.time())
    return {
        "alg-none": jwt_encode({"alg": "none", "typ": "JWT"}, claims, None),
        "alg-None-signed": jwt_encode({"alg": "None", "typ": "JWT"}, claims, None) + "c2ln",
        "wrong-key": jwt_encode({"alg": "HS256", "typ": "JWT"}, claims, os.urandom(32)),
        "other-algorithm": jwt_encode({"alg": "HS512", "typ": "JWT"}, claims, key),
        "tampered-subject": jwt_with_claims(user["token"], {**claims, "sub": str(uuid.uuid4())}),
        "tampered-expiry": jwt_with_claims(user["token"], {**claims, "exp": now + 86400 * 365}),
        "expired": jwt_encode(
            {"alg": "HS256", "typ": "JWT"}, {**claims, "iat": now - 7200, "exp": now - 3600}, key
        ),
        "refresh-as-access": user["refresh_token"],
        "garbage": "not.a.token",
    }


def test_forged_and_misused_tokens_are_401(stack, shared_user):
    forged = _forged_tokens(stack, shared_user)
    with edge_client(stack) as client:
        # Control: a token made the way the backend makes them is accepted, so the forgeries
        # below fail for what they change, not for how this test builds tokens.
        key = stack.env["SECRET_KEY"].encode()
        claims = {**jwt_claims(shared_user["token"]), "iat": int(time.time())}
        honest = jwt_encode({"alg": "HS256", "typ": "JWT"}, claims, key)
        assert client.get("/api/users/me", headers=bearer(honest)).status_code == 200
        for name, token in forged.items():
            for method, path in (("GET", "/api/users/me"), ("GET", "/api/files")):
                answer = client.request(method, path, headers=bearer(token))
                assert answer.status_code == 401, f"{name} on {path}: {answer.status_code}"
                assert answer.headers["www-authenticate"].lower().startswith("bearer"), name
                assert answer.json()["detail"], name
            refused = upload(client, bearer(token), "forged.txt", b"nope")
            assert refused.status_code == 401, f"{name} upload: {refused.status_code}"
        assert len(all_files(client, shared_user["headers"])) == 1


TRAVERSALS = (
    "/storage/files/../../../../etc/passwd",
    "/storage/files/..%2f..%2f..%2f..%2fetc%2fpasswd",
    "/storage/files/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/storage/files/%252e%252e%252fsettings.env",
    "/storage/files/..%5c..%5c.env",
    "/storage/files/.tmp",
    "/storage/files/%2etmp/",
    "/storage/files/{shard}/{name}",
    "/storage/files/{name}/",
    "/storage/files/{name}%00.html",
    "/storage/files/{name}%2f..%2f{name}",
    "/storage/files/{upper}",
    "/storage/files/{name}.",
    "/storage/files/{name};.html",
    "/storage/files/{name}/..%2f..%2f..%2fproject%2f.env",
    "/storage/files/%7e{name}",
    "/_storage_internal/{shard}/{name}",
    "/_storage_internal/../.env",
    "/storage/files/../../.env",
)


def test_storage_name_tricks_through_the_edge_are_404(stack, shared_user):
    name = shared_user["stored_name"]
    secrets_seen = (stack.env["STORAGE_TOKEN"], stack.env["SECRET_KEY"], "root:x:0:0")
    shard = f"{name[:2]}/{name[2:4]}"
    for pattern in TRAVERSALS:
        target = pattern.format(name=name, shard=shard, upper=name.upper())
        answer = raw_get(stack, target)
        status = status_of(answer)
        # nginx decodes the path first: a NUL, or dot segments that climb above the root, are
        # refused by nginx itself (400) before any location is chosen.
        refused_by_nginx = "%00" in target or ".." in target.lower().replace("%2e", ".")
        expected = (400, 404) if refused_by_nginx else (404,)
        assert status in expected, f"{target}: {answer[:300]!r}"
        assert b"private bytes" not in answer, target
        assert not any(secret.encode() in answer for secret in secrets_seen), target
    # The real link still works; the bare name is no key to the file.
    assert status_of(raw_get(stack, shared_user["url"])) == 200
    assert status_of(raw_get(stack, f"/storage/files/{name}")) == 403


def test_internal_storage_endpoints_are_refused_at_the_edge(stack, shared_user):
    name = shared_user["stored_name"]
    files_before = disk_files(stack)
    for token in ("", stack.env["STORAGE_TOKEN"]):  # even the real token does not help
        auth = f"Authorization: Bearer {token}\r\n" if token else ""
        for method, target, body in (
            ("POST", "/storage/upload?filename=x.html", b"<script>alert(1)</script>"),
            ("PUT", f"/storage/files/{name}", b"overwritten"),
            ("POST", f"/storage/files/{name}", b"overwritten"),
            ("DELETE", f"/storage/files/{name}", b""),
            ("GET", f"/storage/meta/{name}", b""),
            ("GET", "/storage/health/ready", b""),
            ("GET", "/storage/openapi.json", b""),
            ("GET", "/storage/docs", b""),
            ("POST", "/storage//upload", b"x"),
            ("POST", "/storage/files/../upload", b"x"),
            ("POST", "/storage/files/%2e%2e/upload", b"x"),
        ):
            request = (
                f"{method} {target} HTTP/1.1\r\nHost: localhost\r\n{auth}"
                f"Content-Type: text/html\r\nContent-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n"
            ).encode() + body
            answer = raw_exchange(stack, request)
            assert status_of(answer) in (404, 405), f"{method} {target}: {answer[:300]!r}"
            assert b'"detail"' in answer, f"{method} {target}: {answer[:300]!r}"
    assert disk_files(stack) == files_before
    with edge_client(stack) as client:
        assert client.get(shared_user["url"]).content == b"private bytes\n"


@pytest.mark.parametrize(
    "filename, content",
    [
        ("page.html", b"<html><script>document.title='pwned'</script></html>"),
        ("image.svg", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'),
        ("image.png", b"<html><script>alert(1)</script></html>"),  # a lie about its type
    ],
)
def test_uploaded_html_and_svg_never_run_as_the_site(stack, shared_user, filename, content):
    with edge_client(stack) as client:
        record = _upload_ok(client, shared_user["headers"], filename, content)
        served = client.get(record["url"])
    assert served.status_code == 200
    assert served.content == content
    csp = " ".join(served.headers.get_list("content-security-policy"))
    assert "sandbox" in csp and "default-src 'none'" in csp, served.headers
    assert served.headers["x-content-type-options"] == "nosniff"
    kind = served.headers["content-type"]
    disposition = served.headers.get("content-disposition", "")
    if filename.endswith((".html", ".svg")):
        # Scriptable types are downloads, never documents rendered at the site's origin.
        assert disposition.startswith("attachment"), served.headers
    else:
        assert kind == "image/png", served.headers  # the stored extension decides, not sniffing


def test_oversized_bodies_are_413_at_the_edge_with_nothing_written(hostile_stack, hostile_user):
    limit = 2 * 1024 * 1024
    files_before, rows_before = disk_files(hostile_stack), db_stored_names(hostile_stack)
    token = hostile_user["token"]
    head = (
        "POST /api/upload HTTP/1.1\r\nHost: localhost\r\n"
        f"Authorization: Bearer {token}\r\n"
        "Content-Type: multipart/form-data; boundary=b\r\n"
    )
    part = b'--b\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n\r\n'
    # Declared too large: refused before the body is read.
    declared = raw_exchange(
        hostile_stack, f"{head}Content-Length: {limit + 4096}\r\n\r\n".encode() + part
    )
    # Chunked, no length declared: refused once the limit is crossed.
    chunks = b"".join(
        f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
        for piece in (part, *[os.urandom(256 * 1024)] * 9)
    )
    chunked = raw_exchange(
        hostile_stack,
        f"{head}Transfer-Encoding: chunked\r\n\r\n".encode() + chunks + b"0\r\n\r\n",
    )
    # A JSON body over the 1 MB of the API's other routes.
    big_json = raw_exchange(
        hostile_stack,
        b"POST /api/auth/register HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json"
        + f"\r\nContent-Length: {2 * 1024 * 1024}\r\n\r\n".encode()
        + b'{"email": "'
        + b"a" * 4096,
    )
    for name, answer in (("declared", declared), ("chunked", chunked), ("json", big_json)):
        assert status_of(answer) == 413, f"{name}: {answer[:400]!r}"
        assert b'"detail"' in answer and b"too large" in answer.lower(), f"{name}: {answer[:400]!r}"
    # (Not assert_volume_matches_database: schemathesis stores files straight into storage.)
    wait_for(lambda: not temp_files(hostile_stack), "temporary upload files left behind")
    assert disk_files(hostile_stack) == files_before
    assert db_stored_names(hostile_stack) == rows_before


MALFORMED_UPLOADS = {
    "no-boundary": ("multipart/form-data", b"--x\r\n\r\nbody\r\n--x--\r\n"),
    "not-multipart": ("application/json", b'{"file": "data"}'),
    "garbage": ("multipart/form-data; boundary=x", b"\x00\xff garbage without any boundary"),
    "no-closing-boundary": (
        "multipart/form-data; boundary=x",
        b'--x\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n\r\ndata',
    ),
    "wrong-field": (
        "multipart/form-data; boundary=x",
        b'--x\r\nContent-Disposition: form-data; name="other"; filename="a.txt"\r\n\r\n'
        b"data\r\n--x--\r\n",
    ),
    "no-disposition": ("multipart/form-data; boundary=x", b"--x\r\n\r\ndata\r\n--x--\r\n"),
    "empty": ("multipart/form-data; boundary=x", b""),
    "header-garbage": (
        "multipart/form-data; boundary=x",
        b"--x\r\nContent-Disposition\x00: \xff\xfe\r\n\r\ndata\r\n--x--\r\n",
    ),
}


def test_malformed_multipart_is_4xx_with_nothing_written(stack, shared_user):
    rows_before = db_stored_names(stack)
    with edge_client(stack) as client:
        files_before = all_files(client, shared_user["headers"])
        for name, (content_type, body) in MALFORMED_UPLOADS.items():
            answer = client.post(
                "/api/upload",
                headers={**shared_user["headers"], "Content-Type": content_type},
                content=body,
            )
            assert 400 <= answer.status_code < 500, f"{name}: {answer.status_code} {answer.text}"
            assert answer.json()["detail"], name
        assert all_files(client, shared_user["headers"]) == files_before
    assert db_stored_names(stack) == rows_before
    assert_volume_matches_database(stack)
