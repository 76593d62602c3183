"""Load against the session's shared stack: many clients uploading at once, one e-mail address
registered by 50 clients at the same instant. Nothing acknowledged is lost, nothing is doubled."""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from support.api import (
    PASSWORD,
    admin_headers,
    all_files,
    all_users,
    assert_volume_matches_database,
    download_sha256,
    edge_client,
    login,
    register_and_login,
    sha256,
    upload,
)
from support.project import Stack, in_site_language

pytestmark = pytest.mark.reliability

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
