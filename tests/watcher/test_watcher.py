"""The watcher on the native stack: faults made for real, alerts received by a real webhook.

Real parts: the stack booted by its native runner (PostgreSQL, storage, backend, the frontend and
edge nginx, the watcher with the runner's Python), a loopback HTTP server as the alert target
(support/webhook.py), openssl for a certificate that expires in 3 days, a 4 MB tmpfs mounted for
the test as a volume that fills up (`mount -t tmpfs`: the tests run as root). The watcher checks
every 2 s (WATCH_INTERVAL_SECONDS), so a fault shows within seconds; reminders keep the default
6 hours there, and are checked by running the watcher's own rounds (`python -m watcher once`)
against a service that does not answer, with a reminder period of 5 s. No Docker: that the image
builds and becomes healthy is the containers layer's.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.project import Stack, boot_stack
from support.waiting import wait_for
from support.webhook import Receiver, webhook_receiver

pytestmark = pytest.mark.watcher

INTERVAL_S = 2
SCRATCH_MB = 4


def mount_tmpfs(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={SCRATCH_MB}m,mode=0755", "tmpfs", str(path)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, (
        f"mounting a tmpfs (the volume this layer fills) failed: run the tests as root.\n"
        f"{result.stderr}"
    )


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with webhook_receiver() as found:
        yield found


@pytest.fixture(scope="module")
def scratch(session_tmp: Path) -> Iterator[Path]:
    path = session_tmp / "watcher-scratch"
    mount_tmpfs(path)
    yield path
    subprocess.run(["umount", "-l", str(path)], check=False)


@pytest.fixture(scope="module")
def watched(session_tmp: Path, receiver: Receiver, scratch: Path) -> Iterator[Stack]:
    stack = boot_stack(
        session_tmp / "watcher",
        settings={
            "WATCH_INTERVAL_SECONDS": str(INTERVAL_S),
            "ALERT_WEBHOOK_URL": receiver.url,
        },
        local_settings={"WATCH_DISKS": f"scratch={scratch}"},
    )
    yield stack
    stack.down()


def watcher_cli(stack: Stack, *args: str, **env: str) -> subprocess.CompletedProcess:
    """`python -m watcher ...` as the server's `status` runs it in the container."""
    folder = next(stack.project.glob("*/watcher"))
    state_file = stack.state_dir / "watcher" / "state.json"
    return subprocess.run(
        [sys.executable, "-m", "watcher", *args],
        cwd=folder, capture_output=True, text=True, timeout=60,
        env={"PATH": os.environ["PATH"], "WATCH_STATE_FILE": str(state_file), **env},
    )  # fmt: skip


def test_a_healthy_stack_raises_no_alert_and_status_says_all_is_well(watched, receiver):
    wait_for(lambda: watcher_cli(watched, "status").returncode == 0, 10, what="all well")
    status = watcher_cli(watched, "status")
    assert status.stdout.startswith("watcher: all well"), status.stdout
    for line in ("backend answers 200", "storage answers 200", "frontend answers 200"):
        assert line in status.stdout
    assert "days left" in status.stdout and "disk scratch" in status.stdout
    assert receiver.events() == []


def test_a_stopped_service_makes_one_alert_then_one_recovery(watched, receiver):
    pid = watched.status["services"]["storage"]["pid"]
    os.kill(pid, signal.SIGTERM)
    wait_for(lambda: receiver.kinds("health:storage"), 20, what="the storage alert")
    alert = receiver.events("health:storage")[0]
    assert alert["event"] == "alert" and alert["site"] == "localhost"
    assert alert["summary"].startswith("storage does not answer")
    assert set(alert) == {"event", "site", "check", "summary", "since", "time"}
    status = watcher_cli(watched, "status")
    assert status.returncode == 1
    assert status.stdout.splitlines()[0].startswith("watcher: 1 problem(s): storage does not")
    time.sleep(3 * INTERVAL_S)  # rounds go by while it is down: no second message
    assert receiver.kinds("health:storage") == ["alert"]

    watched.up()  # the runner starts what is stopped
    wait_for(lambda: len(receiver.kinds("health:storage")) == 2, 30, what="the recovery")
    time.sleep(2 * INTERVAL_S)
    assert receiver.kinds("health:storage") == ["alert", "recovery"]
    # One incident, one alert: the backend's readiness (which needs storage) is not a second.
    assert {e["check"] for e in receiver.events()} == {"health:storage"}
    assert watcher_cli(watched, "status").returncode == 0


def make_certificate(folder: Path, days: int) -> tuple[Path, Path]:
    cert, key = folder / f"cert-{days}d.pem", folder / f"key-{days}d.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-days", str(days), "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def serve_certificate(stack: Stack, cert: Path, key: Path) -> None:
    """Put a certificate where the runner's edge reads it, and reload the edge (SIGHUP)."""
    tls = json.loads((stack.state_dir / "run" / "stack.json").read_text())["tls"]
    shutil.copyfile(cert, tls["certificate"])
    shutil.copyfile(key, tls["key"])
    os.kill(stack.status["services"]["nginx"]["pid"], signal.SIGHUP)


def test_a_certificate_near_expiry_alerts_once_then_recovers(watched, receiver, tmp_path):
    tls = json.loads((watched.state_dir / "run" / "stack.json").read_text())["tls"]
    original = tmp_path / "original.pem", tmp_path / "original.key"
    shutil.copyfile(tls["certificate"], original[0])
    shutil.copyfile(tls["key"], original[1])
    serve_certificate(watched, *make_certificate(tmp_path, 3))
    try:
        wait_for(lambda: receiver.kinds("certificate"), 20, what="the certificate alert")
        alert = receiver.events("certificate")[0]
        assert alert["event"] == "alert", alert
        assert re.search(r": (2\.9|3\.0) days left \(", alert["summary"]), alert["summary"]
        time.sleep(2 * INTERVAL_S)
        assert receiver.kinds("certificate") == ["alert"]
    finally:
        serve_certificate(watched, *original)
    wait_for(lambda: len(receiver.kinds("certificate")) == 2, 20, what="the recovery")
    assert receiver.kinds("certificate") == ["alert", "recovery"]


def test_a_lasting_fault_is_reminded_after_the_period_not_every_round(watched, tmp_path):
    """Rounds of the watcher itself (`once`, as the container runs them in a loop) against a
    service that does not answer, ALERT_REMIND_HOURS at one hour: the first round alerts, the
    next sends nothing; once the last message is an hour old the next round reminds, once.
    Stand-in: the hour passes by moving the last message's time back in the state file."""
    state_file = tmp_path / "state.json"
    env = {
        "WATCH_STATE_FILE": str(state_file),
        "WATCH_HEALTH": "gone=http://127.0.0.1:9/",
        "ALERT_REMIND_HOURS": "1",
    }
    with webhook_receiver() as target:
        rounds = lambda: watcher_cli(watched, "once", ALERT_WEBHOOK_URL=target.url, **env)  # noqa: E731
        rounds()
        rounds()
        assert target.kinds("health:gone") == ["alert"]
        state = json.loads(state_file.read_text())
        state["checks"]["health:gone"]["announced_at"] -= 3601
        state_file.write_text(json.dumps(state))
        rounds()
        rounds()
        assert target.kinds("health:gone") == ["alert", "reminder"]


def test_a_volume_filling_up_alerts_then_recovers(watched, receiver, scratch):
    filler = scratch / "filler"
    filler.write_bytes(b"\0" * int(SCRATCH_MB * 0.95 * 1024 * 1024))
    try:
        wait_for(lambda: receiver.kinds("disk:scratch"), 20, what="the disk alert")
        alert = receiver.events("disk:scratch")[0]
        assert alert["event"] == "alert" and "% free" in alert["summary"], alert
    finally:
        filler.unlink()
    wait_for(lambda: len(receiver.kinds("disk:scratch")) == 2, 20, what="the recovery")
    assert receiver.kinds("disk:scratch") == ["alert", "recovery"]


@pytest.mark.parametrize(
    ("shape", "expected"),
    [
        ("slack", lambda d: d.json()["text"].startswith("🔴 ALERT example.org: gone does not")),
        ("discord", lambda d: d.json()["content"].startswith("🔴 ALERT example.org: gone")),
        ("ntfy", lambda d: d.body.decode().startswith("🔴 ALERT example.org: gone")
         and d.headers["Title"] == "example.org: ALERT" and d.headers["Priority"] == "high"),
    ],
)  # fmt: skip
def test_each_webhook_shape_is_what_its_server_accepts(watched, shape, expected, tmp_path):
    """One round against a service that does not answer, in each shape (ntfy: text body and
    headers; Slack and Mattermost: {"text"}; Discord: {"content"})."""
    with webhook_receiver() as target:
        result = watcher_cli(
            watched, "once",
            WATCH_STATE_FILE=str(tmp_path / "state.json"), DOMAIN="example.org",
            WATCH_HEALTH="gone=http://127.0.0.1:9/", ALERT_WEBHOOK_URL=target.url,
            ALERT_WEBHOOK_FORMAT=shape,
        )  # fmt: skip
        assert result.returncode == 1 and "gone does not answer" in result.stdout
        assert len(target.deliveries) == 1 and expected(target.deliveries[0])


def test_a_bad_format_setting_is_refused_with_the_fix(watched):
    result = watcher_cli(watched, "status", ALERT_WEBHOOK_FORMAT="teams")
    assert result.returncode == 2
    assert "ALERT_WEBHOOK_FORMAT=teams is not one of json, ntfy, slack, discord" in result.stderr


def test_the_backup_services_status_file_alerts_with_its_own_sentence(watched, tmp_path):
    """The backup service's status.json (its shape: `ok`, `problems`, `base_backup_at`, `drill`)
    read by the watcher's own rounds: a problem it reports is one alert, its end one recovery; no
    file at all is "not configured", never an alert."""
    status_file = tmp_path / "status.json"
    env = {
        "WATCH_STATE_FILE": str(tmp_path / "state.json"),
        "WATCH_BACKUP_STATUS": str(status_file),
    }
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    with webhook_receiver() as target:
        first = watcher_cli(watched, "once", ALERT_WEBHOOK_URL=target.url, **env)
        assert "backup: not configured" in first.stdout and target.deliveries == []
        problem = "the repository is unreachable: check BACKUP_REPOSITORY"
        status = {"ok": False, "checked_at": now, "base_backup_at": now, "drill": None,
                  "problems": [problem]}  # fmt: skip
        status_file.write_text(json.dumps(status))
        watcher_cli(watched, "once", ALERT_WEBHOOK_URL=target.url, **env)
        assert [e["summary"] for e in target.events("backup")] == [f"backup: {problem}"]
        status_file.write_text(json.dumps({**status, "ok": True, "problems": []}))
        result = watcher_cli(watched, "once", ALERT_WEBHOOK_URL=target.url, **env)
        assert target.kinds("backup") == ["alert", "recovery"]
        assert "restore drill: none yet" in result.stdout and target.kinds("drill") == []


def test_what_fails_while_the_watcher_starts_is_not_an_alert_until_the_grace_ends(
    watched, tmp_path
):
    """A deploy starts the watcher with the services it checks (a swarm starts them all at once):
    in its first WATCH_START_GRACE_SECONDS a service that does not answer is recorded as
    unknown, "starting", and `status` passes; after the grace it is an alert, once."""
    folder = next(watched.project.glob("*/watcher"))
    state_file = tmp_path / "state.json"
    with webhook_receiver() as target:
        env = {
            "PATH": os.environ["PATH"],
            "WATCH_STATE_FILE": str(state_file),
            "WATCH_HEALTH": "gone=http://127.0.0.1:9/",
            "WATCH_INTERVAL_SECONDS": "1",
            "WATCH_START_GRACE_SECONDS": "6",
            "ALERT_WEBHOOK_URL": target.url,
        }
        loop = subprocess.Popen([sys.executable, "-m", "watcher", "run"], cwd=folder, env=env)
        try:
            wait_for(state_file.exists, 10, interval=0.2, what="the watcher's first round")
            shown = watcher_cli(watched, "status", WATCH_STATE_FILE=str(state_file))
            assert shown.returncode == 0, shown.stdout
            assert "gone does not answer" in shown.stdout and ": starting)" in shown.stdout
            assert target.kinds("health:gone") == []
            wait_for(lambda: target.kinds("health:gone"), 20, what="the alert after the grace")
            time.sleep(2)
            assert target.kinds("health:gone") == ["alert"]
        finally:
            loop.send_signal(signal.SIGINT)
            loop.wait(timeout=10)


def test_now_shows_a_service_that_stopped_since_the_last_round_without_waiting_for_the_next(
    watched, tmp_path
):
    """The deploy scripts' `status` runs `python -m watcher now`: a service that stopped (or came
    back) a moment ago is shown as it is, not as the last round saw it up to a minute earlier.
    The watcher here checks every 10 minutes, so only the round `now` asks for can see it."""
    folder = next(watched.project.glob("*/watcher"))
    state_file = tmp_path / "state.json"
    service = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler
    )
    threading.Thread(target=service.serve_forever, daemon=True).start()
    env = {
        "PATH": os.environ["PATH"],
        "WATCH_STATE_FILE": str(state_file),
        "WATCH_HEALTH": f"shortlived=http://127.0.0.1:{service.server_port}/",
        "WATCH_INTERVAL_SECONDS": "600",
        "WATCH_START_GRACE_SECONDS": "0",
    }
    loop = subprocess.Popen([sys.executable, "-m", "watcher", "run"], cwd=folder, env=env)
    try:
        wait_for(state_file.exists, 10, interval=0.2, what="the watcher's first round")
        assert "shortlived answers 200" in watcher_cli(watched, "now", **env).stdout
        service.shutdown()
        service.server_close()
        recorded = watcher_cli(watched, "status", **env)
        assert recorded.returncode == 0 and "shortlived answers 200" in recorded.stdout
        started = time.monotonic()
        now = watcher_cli(watched, "now", **env)
        took = time.monotonic() - started
        assert now.returncode == 1, now.stdout + now.stderr
        assert now.stdout.startswith("watcher: 1 problem(s): shortlived does not answer"), (
            now.stdout
        )
        assert took < 15, f"`now` took {took:.1f} s"
    finally:
        loop.send_signal(signal.SIGINT)
        loop.wait(timeout=10)
    left = watcher_cli(watched, "now", **env)  # no loop to ask: the last round, and why
    assert "the watcher's loop did not answer" in left.stderr
    assert "shortlived does not answer" in left.stdout
