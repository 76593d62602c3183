"""Security round 3 (issue 27) against a booted stack: no account starves the others, deleted admins
stay deleted, links and sessions end together.

One stack of this module's own (`round3_stack`, production settings, AUTH_RATE_PER_MINUTE=30): the
edge's per-address limits are part of what is tested. Tests that spend an address's allowance send
from another loopback address (127.0.0.2…), so the others keep theirs. Every flood is bounded in
count and time, and goes only to the loopback.
"""

from __future__ import annotations

import itertools
import os
import socket
import ssl
import subprocess
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from support.api import (
    PASSWORD,
    assert_volume_matches_database,
    bearer,
    edge_client,
    login,
    read_head,
    service_python,
    sql,
    status_of,
    temp_files,
    tls_context,
    upload,
)
from support.project import Stack, boot_stack
from support.waiting import wait_for

pytestmark = pytest.mark.reliability

AUTH_RATE = 30  # per address and minute, with a burst of as many


# Loopback addresses for the tests' own log-ins (127.0.1.1, 127.0.1.2, …).
_addresses = (f"127.0.{n // 250 + 1}.{n % 250 + 1}" for n in itertools.count())


@pytest.fixture(scope="module")
def round3_stack(session_tmp: Path):
    booted = boot_stack(
        session_tmp / "security-round3",
        settings={"AUTH_RATE_PER_MINUTE": str(AUTH_RATE)},
        max_upload_mb=5,
    )
    yield booted
    booted.down()


def client_from(stack: Stack, address: str = "127.0.0.1", timeout: float = 30) -> httpx.Client:
    """A client of the edge whose connections leave from `address` (the edge limits per address)."""
    transport = httpx.HTTPTransport(verify=tls_context(stack), local_address=address)
    return httpx.Client(base_url=stack.url, transport=transport, timeout=timeout)


@pytest.fixture(scope="module")
def operator(round3_stack: Stack) -> dict:
    """A second administrator, made by the first: the tests use it, and one test deletes the
    first."""
    with edge_client(round3_stack) as client:
        first = bearer(
            login(
                client,
                round3_stack.env["FIRST_ADMIN_EMAIL"],
                round3_stack.env["FIRST_ADMIN_PASSWORD"],
            )
        )
        return make_account(round3_stack, first, "operator", role="admin")


def make_account(stack: Stack, admin: dict, prefix: str, role: str = "user") -> dict:
    """An account made by an administrator (no sign-up allowance spent), signed in from an address
    of its own (the tests' log-ins do not spend one address's allowance)."""
    email = f"{prefix}.{uuid.uuid4().hex[:10]}@example.com"
    with client_from(stack, next(_addresses)) as client:
        made = client.post(
            "/api/users", headers=admin, json={"email": email, "password": PASSWORD, "role": role}
        )
        assert made.status_code == 201, made.text
        token = login(client, email, PASSWORD)
    return {"id": made.json()["id"], "email": email, "headers": bearer(token), "token": token}


def backend_workers(stack: Stack) -> int:
    """Processes serving the API (BACKEND_WORKERS, 0: one per core, at most 4)."""
    wanted = int(stack.env.get("BACKEND_WORKERS", "0") or 0)
    return wanted or min(4, len(os.sched_getaffinity(0)))


def audit(client: httpx.Client, admin: dict) -> list[dict]:
    answer = client.get("/api/audit", headers=admin["headers"], params={"limit": 100})
    assert answer.status_code == 200, answer.text
    return answer.json()["items"]


# --- 1. password checks: the login's limits, and no connection held while hashing ---------------


def test_64_parallel_password_changes_are_limited_and_others_are_served(
    round3_stack: Stack, operator: dict
):
    """One account sends 64 password changes at a time for 8 s (the right password, set again)
    from one address. The edge holds it to the log-in's allowance (429), and another user's reads
    and log-in never answer 503 meanwhile."""
    attacker = make_account(round3_stack, operator["headers"], "hasher")
    bystander = make_account(round3_stack, operator["headers"], "bystander")
    body = {"current_password": PASSWORD, "new_password": PASSWORD}
    stop = time.monotonic() + 8
    attacker_statuses: Counter[int] = Counter()
    bystander_statuses: Counter[int] = Counter()
    slowest = 0.0

    def hammer() -> None:
        with client_from(round3_stack, "127.0.0.2") as mine:
            while time.monotonic() < stop:
                answer = mine.post("/api/users/me/password", headers=attacker["headers"], json=body)
                attacker_statuses[answer.status_code] += 1

    def read_as_bystander() -> None:
        nonlocal slowest
        with client_from(round3_stack, "127.0.0.3") as mine:
            while time.monotonic() < stop:
                started = time.monotonic()
                for path in ("/api/users/me", "/api/files"):
                    bystander_statuses[
                        mine.get(path, headers=bystander["headers"]).status_code
                    ] += 1
                slowest = max(slowest, time.monotonic() - started)
                time.sleep(0.1)

    with ThreadPoolExecutor(max_workers=65) as pool:
        futures = [pool.submit(hammer) for _ in range(64)] + [pool.submit(read_as_bystander)]
        with client_from(round3_stack, "127.0.0.4") as other:
            time.sleep(3)  # in the middle of the flood
            started = time.monotonic()
            signed_in = other.post(
                "/api/auth/login", data={"username": bystander["email"], "password": PASSWORD}
            )
            login_seconds = time.monotonic() - started
        for future in futures:
            future.result()
    assert signed_in.status_code == 200, signed_in.text
    assert set(bystander_statuses) == {200}, bystander_statuses
    assert attacker_statuses[429] > attacker_statuses[204], attacker_statuses
    assert not any(status >= 500 for status in attacker_statuses), attacker_statuses
    assert login_seconds < 5 and slowest < 5, (login_seconds, slowest)


# --- 2. the first administrator is created once, ever --------------------------------------------


def _prestart(stack: Stack) -> None:
    """What every start of the backend runs first (migrations, the first administrator)."""
    python, cwd, environ = service_python(stack, "backend")
    done = subprocess.run(
        [python, "-m", "app.prestart"], cwd=cwd, env=environ, capture_output=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_renamed_or_deleted_first_admin_does_not_come_back(round3_stack: Stack, operator: dict):
    env = round3_stack.env
    with edge_client(round3_stack) as client:
        first = bearer(login(client, env["FIRST_ADMIN_EMAIL"], env["FIRST_ADMIN_PASSWORD"]))
        first_id = client.get("/api/users/me", headers=first).json()["id"]
        renamed = f"renamed.{uuid.uuid4().hex[:8]}@example.com"
        answer = client.patch(
            "/api/users/me",
            headers=first,
            json={"email": renamed, "current_password": env["FIRST_ADMIN_PASSWORD"]},
        )
        assert answer.status_code == 200, answer.text
        _prestart(round3_stack)
        refused = client.post(
            "/api/auth/login",
            data={"username": env["FIRST_ADMIN_EMAIL"], "password": env["FIRST_ADMIN_PASSWORD"]},
        )
        assert refused.status_code == 401, refused.text
        deleted = client.delete(
            f"/api/users/{first_id}", headers=operator["headers"], params={"confirm_email": renamed}
        )
        assert deleted.status_code == 204, deleted.text
        _prestart(round3_stack)
        refused = client.post(
            "/api/auth/login",
            data={"username": env["FIRST_ADMIN_EMAIL"], "password": env["FIRST_ADMIN_PASSWORD"]},
        )
        assert refused.status_code == 401, refused.text
    assert sql(round3_stack, "SELECT count(*) FROM users WHERE role = 'admin'") != "0"


# --- 3. two administrators deactivating each other at once ----------------------------------------


def test_admins_deactivating_each_other_at_once_never_503_and_storage_agrees(
    round3_stack: Stack, operator: dict
):
    """Ten rounds: two admins (the only active ones besides the operator, who steps aside) each
    deactivate the other at the same moment. One wins, the other is told it would leave no admin;
    never a 503; the survivor's files still download and the loser's links are refused."""
    with edge_client(round3_stack) as client:
        for _ in range(10):
            one = make_account(round3_stack, operator["headers"], "admin-one", role="admin")
            two = make_account(round3_stack, operator["headers"], "admin-two", role="admin")
            links = {}
            for admin in (one, two):
                stored = upload(client, admin["headers"], "mine.txt", b"kept\n")
                assert stored.status_code == 201, stored.text
                links[admin["id"]] = stored.json()["url"]
            sql(
                round3_stack,
                "UPDATE users SET role = 'user' WHERE role = 'admin' "  # noqa: S608
                f"AND id NOT IN ('{one['id']}', '{two['id']}')",
            )
            barrier = threading.Barrier(2)

            def deactivate(
                actor: dict, target: dict, barrier: threading.Barrier = barrier
            ) -> httpx.Response:
                with edge_client(round3_stack) as mine:
                    barrier.wait()
                    return mine.patch(
                        f"/api/users/{target['id']}",
                        headers=actor["headers"],
                        json={"is_active": False},
                    )

            try:
                with ThreadPoolExecutor(max_workers=2) as pool:
                    answers = list(pool.map(deactivate, (one, two), (two, one)))
            finally:
                sql(round3_stack, f"UPDATE users SET role = 'admin' WHERE id = '{operator['id']}'")  # noqa: S608
            # The second is told it would leave no administrator (409), or, if the first was
            # done before its request was even read, that its own account is deactivated (403).
            statuses = sorted(a.status_code for a in answers)
            assert statuses in ([200, 403], [200, 409]), [a.text for a in answers]
            survivor, loser = (one, two) if answers[0].status_code == 200 else (two, one)
            assert client.get(links[survivor["id"]]).status_code == 200
            assert client.get(links[loser["id"]]).status_code == 404


# --- 4. the audit log -----------------------------------------------------------------------------


def test_the_audit_log_names_the_actor_by_id_with_the_address_of_the_moment(
    round3_stack: Stack, operator: dict
):
    with edge_client(round3_stack) as client:
        admin = make_account(round3_stack, operator["headers"], "renaming-admin", role="admin")
        victim = make_account(round3_stack, operator["headers"], "victim")
        temporary = f"temporary.{uuid.uuid4().hex[:8]}@example.com"
        for address in (temporary, admin["email"]):
            if address == admin["email"]:
                gone = client.delete(
                    f"/api/users/{victim['id']}",
                    headers=admin["headers"],
                    params={"confirm_email": victim["email"]},
                )
                assert gone.status_code == 204, gone.text
            moved = client.patch(
                "/api/users/me",
                headers=admin["headers"],
                json={"email": address, "current_password": PASSWORD},
            )
            assert moved.status_code == 200, moved.text
        entries = audit(client, operator)
    deletion = next(e for e in entries if e["action"] == "delete_account")
    assert (deletion["actor_id"], deletion["actor_email"]) == (admin["id"], temporary)
    changes = [(e["detail"], e["target_email"]) for e in entries if e["action"] == "change_email"]
    assert changes[:2] == [(temporary, admin["email"]), (admin["email"], temporary)]


# --- 5. e-mail change probes ----------------------------------------------------------------------


def test_email_change_probes_are_throttled(round3_stack: Stack, operator: dict):
    """24 probes a second for 2 s: past the first five, 429 (the account's allowance), and the
    edge's per-address limit behind it."""
    prober = make_account(round3_stack, operator["headers"], "prober")
    statuses: Counter[int] = Counter()
    with client_from(round3_stack, "127.0.0.5") as mine:
        for index in range(48):
            probe = operator["email"] if index % 2 else f"free.{index}@example.com"
            answer = mine.patch(
                "/api/users/me",
                headers=prober["headers"],
                json={"email": probe, "current_password": PASSWORD},
            )
            statuses[answer.status_code] += 1
            time.sleep(1 / 24)
    assert statuses[409] + statuses[200] <= 5, statuses
    assert statuses[429] >= 43, statuses


# --- 6. reset links end together ------------------------------------------------------------------


def test_reset_links_end_together(round3_stack: Stack, operator: dict):
    def link(client: httpx.Client, user: dict) -> str:
        made = client.post(f"/api/users/{user['id']}/password-reset", headers=operator["headers"])
        assert made.status_code == 201, made.text
        return made.json()["path"].split("token=", 1)[1]

    def use(client: httpx.Client, token: str, email: str) -> int:
        body = {"token": token, "email": email, "new_password": f"{PASSWORD} {uuid.uuid4().hex}"}
        return client.post("/api/auth/reset-password", json=body).status_code

    with edge_client(round3_stack) as client:
        user = make_account(round3_stack, operator["headers"], "resetting")
        older, newer = link(client, user), link(client, user)
        assert use(client, newer, user["email"]) == 204
        assert use(client, older, user["email"]) == 400  # the used link ended it
        other = make_account(round3_stack, operator["headers"], "moving")
        pending = link(client, other)
        moved = client.patch(
            "/api/users/me",
            headers=other["headers"],
            json={
                "email": f"moved.{uuid.uuid4().hex[:8]}@example.com",
                "current_password": PASSWORD,
            },
        )
        assert moved.status_code == 200, moved.text
        assert use(client, pending, other["email"]) == 400  # the old address
        assert use(client, pending, moved.json()["email"]) == 400  # and the new one
        pending = link(client, other)
        changed = client.post(
            "/api/users/me/password",
            headers=other["headers"],
            json={"current_password": PASSWORD, "new_password": f"{PASSWORD} changed"},
        )
        assert changed.status_code == 204, changed.text
        assert use(client, pending, moved.json()["email"]) == 400


# --- 7. an upload in progress ends with its owner's account ---------------------------------------


def test_an_upload_in_progress_is_refused_once_its_owner_is_deactivated(
    round3_stack: Stack, operator: dict
):
    with edge_client(round3_stack) as client:
        user = make_account(round3_stack, operator["headers"], "deactivated-mid-upload")
        boundary = "deactivationboundary"
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        tail = f"\r\n--{boundary}--\r\n".encode()
        size, chunk = 2 * 1024 * 1024, 128 * 1024
        request = (
            "POST /api/upload HTTP/1.1\r\nHost: localhost\r\n"
            f"Authorization: Bearer {user['token']}\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
            f"Content-Length: {len(head) + size + len(tail)}\r\nConnection: close\r\n\r\n"
        ).encode()
        sock = socket.create_connection(("127.0.0.1", round3_stack.port("nginx")), timeout=30)
        tls = tls_context(round3_stack).wrap_socket(sock, server_hostname="localhost")
        try:
            tls.sendall(request + head)
            for _ in range(size // chunk // 2):
                tls.sendall(os.urandom(chunk))
            wait_for(
                lambda: bool(temp_files(round3_stack)), interval=0.1, what="the upload in storage"
            )
            off = client.patch(
                f"/api/users/{user['id']}", headers=operator["headers"], json={"is_active": False}
            )
            assert off.status_code == 200, off.text
            for _ in range(size // chunk // 2):
                tls.sendall(os.urandom(chunk))
            tls.sendall(tail)
            answer = read_head(tls)
        finally:
            tls.close()
    assert status_of(answer) == 403, answer[:300]
    rows = sql(round3_stack, f"SELECT count(*) FROM files WHERE owner_id = '{user['id']}'")  # noqa: S608
    assert rows == "0"
    assert_volume_matches_database(round3_stack)


# --- 8. the public readiness check stays cheap ----------------------------------------------------


def _transactions(stack: Stack) -> int:
    """Transactions the database has counted so far (statistics lag by up to a second)."""
    return int(
        sql(
            stack,
            "SELECT xact_commit + xact_rollback FROM pg_stat_database "
            "WHERE datname = current_database()",
        )
    )


def test_a_flood_of_readiness_checks_runs_a_real_check_about_once_a_second(round3_stack: Stack):
    """32 clients ask /api/health/ready as fast as they can for 3 s: the database query (and
    storage's check, a write and an fsync, beside it) runs about once a second per backend
    worker, not once per request."""
    time.sleep(1.5)  # the statistics of what ran before are counted
    before = _transactions(round3_stack)
    stop = time.monotonic() + 3
    answered: Counter[int] = Counter()

    def ask() -> None:
        with edge_client(round3_stack) as mine:
            while time.monotonic() < stop:
                answered[mine.get("/api/health/ready").status_code] += 1

    with ThreadPoolExecutor(max_workers=32) as pool:
        for future in [pool.submit(ask) for _ in range(32)]:
            future.result()
    time.sleep(1.5)  # the statistics are flushed about once a second
    queries = _transactions(round3_stack) - before - 1  # this count's own transaction
    assert set(answered) == {200}, answered
    assert sum(answered.values()) > 50, answered
    # About 5 checks for each worker, beside the database's own background work (autovacuum takes a
    # transaction per table; the backend's outbox round, one per worker every 5 s): a few dozen in
    # all. One check per request would be at least one transaction per answer.
    answers = sum(answered.values())
    assert queries <= 100 and queries * 10 < answers, (queries, answers)


# --- 10. one account's open uploads are bounded ---------------------------------------------------


def test_an_accounts_trickling_uploads_are_bounded_and_others_still_upload(
    round3_stack: Stack, operator: dict
):
    """Uploads of one account that trickle a byte at a time, 20 more than its bound (20 open per
    backend worker): those past it are refused (429) at once, and another user's upload meanwhile
    is stored (201), never a 503."""
    with edge_client(round3_stack) as client:
        greedy = make_account(round3_stack, operator["headers"], "trickler")
        other = make_account(round3_stack, operator["headers"], "patient")
    boundary = "trickleboundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="slow.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    request = (
        "POST /api/upload HTTP/1.1\r\nHost: localhost\r\n"
        f"Authorization: Bearer {greedy['token']}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
        f"Content-Length: {len(head) + 100_000}\r\nConnection: close\r\n\r\n"
    ).encode()
    context = tls_context(round3_stack)
    sockets: list[ssl.SSLSocket] = []
    try:
        for _ in range(20 * backend_workers(round3_stack) + 20):
            sock = socket.create_connection(("127.0.0.1", round3_stack.port("nginx")), timeout=10)
            tls = context.wrap_socket(sock, server_hostname="localhost")
            tls.sendall(request + head + b"x")
            sockets.append(tls)
        time.sleep(2)
        for tls in sockets:
            tls.sendall(b"x")  # still trickling
        with edge_client(round3_stack) as client:
            started = time.monotonic()
            stored = upload(client, other["headers"], "meanwhile.txt", b"y" * 50_000)
            seconds = time.monotonic() - started
        refused = 0
        for tls in sockets:
            tls.settimeout(0.2)
            try:
                answer = tls.recv(4096)
            except (TimeoutError, ssl.SSLError, OSError):
                continue
            if answer.startswith(b"HTTP/1.1 "):
                assert status_of(answer) == 429, answer[:300]
                refused += 1
    finally:
        for tls in sockets:
            tls.close()
    assert stored.status_code == 201, stored.text
    assert seconds < 10, seconds
    assert refused >= 20, refused
    wait_for(lambda: not temp_files(round3_stack), 20, interval=0.1, what="no temporary file")


# --- 9. download links ---------------------------------------------------------------------------


def test_download_links_and_the_browsers_copy_live_minutes_not_an_hour(
    round3_stack: Stack, operator: dict
):
    """Links do not end at log-out (README): they must be short enough for that to be honest."""
    with edge_client(round3_stack) as client:
        user = make_account(round3_stack, operator["headers"], "links")
        stored = upload(client, user["headers"], "private.txt", b"mine\n")
        assert stored.status_code == 201, stored.text
        expires = stored.json()["url_expires_at"]
        left = datetime.fromisoformat(expires).timestamp() - time.time()
        assert 0 < left <= 11 * 60, expires
        got = client.get(stored.json()["url"])
    assert got.status_code == 200
    cache_control = got.headers["cache-control"]
    assert cache_control.startswith("private, max-age="), cache_control
    assert int(cache_control.rsplit("=", 1)[1]) <= 11 * 60, cache_control


# --- issue 26: a refusal the client hears before it sends the file -------------------------------


def test_an_upload_over_the_quota_left_is_refused_before_its_body_is_sent(
    round3_stack: Stack, operator: dict
):
    """A 3 MB upload (under the 5 MB limit) by an account with 1 MB of quota: the 507 arrives
    while the client has sent only the first 64 KB, not after it has sent the whole file."""
    user = make_account(round3_stack, operator["headers"], "small-quota")
    with edge_client(round3_stack) as client:
        limited = client.patch(
            f"/api/users/{user['id']}", headers=operator["headers"], json={"quota_mb": 1}
        )
        assert limited.status_code == 200, limited.text
    head = (
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n'
        b"Content-Type: application/octet-stream\r\n\r\n"
    )
    request = (
        "POST /api/upload HTTP/1.1\r\nHost: localhost\r\n"
        f"Authorization: Bearer {user['token']}\r\n"
        "Content-Type: multipart/form-data; boundary=b\r\n"
        f"Content-Length: {len(head) + 3_000_000 + 8}\r\nConnection: close\r\n\r\n"
    ).encode()
    sock = socket.create_connection(("127.0.0.1", round3_stack.port("nginx")), timeout=10)
    with tls_context(round3_stack).wrap_socket(sock, server_hostname="localhost") as tls:
        tls.sendall(request + head + os.urandom(64 * 1024))
        tls.settimeout(5)
        answer = tls.recv(65536)  # within 5 s, with 2.9 MB still unsent
    assert status_of(answer) == 507, answer[:300]


# --- 11. informational ----------------------------------------------------------------------------


def test_a_large_json_body_is_told_the_json_limit(round3_stack: Stack, operator: dict):
    with edge_client(round3_stack) as client:
        answer = client.patch(
            "/api/users/me",
            headers={**operator["headers"], "Content-Type": "application/json"},
            content=b'{"full_name": "' + b"x" * 2_000_000 + b'"}',
        )
    assert answer.status_code == 413
    detail = answer.json()["detail"]
    assert "1 MB" in detail or "1 Mo" in detail, detail
    assert "5 MB" not in detail and "5 Mo" not in detail, detail  # not the upload limit


def test_names_lose_their_direction_overrides_and_zero_width_characters(
    round3_stack: Stack, operator: dict
):
    with edge_client(round3_stack) as client:
        user = make_account(round3_stack, operator["headers"], "names")
        named = client.patch(
            "/api/users/me", headers=user["headers"], json={"full_name": "Eve\u202e\u200bnaJ"}
        )
        assert named.json()["full_name"] == "EvenaJ"
        stored = upload(client, user["headers"], "report\u202efdp.exe", b"x")
        assert stored.json()["name"] == "reportfdp.exe"
        markup = client.post(
            "/api/users",
            headers=operator["headers"],
            json={"email": "<b>x</b>@example.com", "password": PASSWORD},
        )
        assert markup.status_code == 422
