"""End to end: render, boot with the native runner, use the site through the edge nginx over TLS."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import ssl
import subprocess
import sys

import httpx
import pytest
from stack import cli
from support.processes import pid_alive
from support.project import Stack, in_site_language, read_env, render

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def client(stack: Stack):
    """An HTTPS client that trusts the stack's own self-signed certificate, and nothing else."""
    context = ssl.create_default_context(cafile=stack.state_dir / "tls" / "selfsigned.crt")
    with httpx.Client(base_url=stack.url, verify=context, timeout=30) as http:
        yield http


@pytest.fixture(scope="module")
def user(client):
    email, password = "e2e.user@example.com", "correct horse battery"
    created = client.post("/api/auth/register", json={"email": email, "password": password})
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["email"] == email
    assert not any("password" in key for key in body), f"password material in {body}"
    login = client.post("/api/auth/login", data={"username": email, "password": password})
    assert login.status_code == 200, login.text
    assert login.json()["token_type"] == "bearer"
    return {"email": email, "headers": {"Authorization": f"Bearer {login.json()['access_token']}"}}


def test_every_service_reports_healthy(stack: Stack):
    status = stack.refresh()
    assert status["url"].startswith("https://localhost:")
    for name in ("postgres", "storage", "backend", "frontend", "nginx"):
        service = status["services"][name]
        assert service["healthy"] is True, f"{name} is not healthy: {service}"
        assert service["pid"] and service["port"]


def test_frontend_is_served_over_https(client):
    page = client.get("/")
    assert page.status_code == 200
    assert "<html" in page.text.lower()
    assert "max-age=" in page.headers.get("strict-transport-security", "")


def test_health_endpoints_through_the_edge(client):
    assert client.get("/api/health").status_code == 200
    assert client.get("/storage/health").status_code in (200, 404)  # exposed or not, never 5xx


def test_me_returns_the_logged_in_user(client, user):
    me = client.get("/api/users/me", headers=user["headers"])
    assert me.status_code == 200
    assert me.json()["email"] == user["email"]


def test_me_without_a_token_is_401(client):
    me = client.get("/api/users/me")
    assert me.status_code == 401
    assert me.headers["www-authenticate"].lower().startswith("bearer")


def test_upload_then_download_byte_for_byte(client, user, stack):
    content = os.urandom(300_000) + b"end"
    uploaded = client.post(
        "/api/upload",
        headers=user["headers"],
        files={"file": ("report.pdf", content, "application/pdf")},
    )
    assert uploaded.status_code == 201, uploaded.text
    record = uploaded.json()
    assert record["name"] == "report.pdf"
    assert record["size"] == len(content)
    assert record["sha256"] == hashlib.sha256(content).hexdigest()
    assert record["content_type"] == "application/pdf"
    assert record["url"].startswith("/storage/files/")

    download = client.get(record["url"])
    assert download.status_code == 200
    assert download.content == content
    assert download.headers["x-content-type-options"] == "nosniff"

    listed = client.get("/api/files", headers=user["headers"]).json()
    assert record["id"] in [item["id"] for item in listed["items"]]


def test_plain_http_redirects_to_https(stack):
    response = httpx.get(f"{stack.http_url}/some/page?x=1", follow_redirects=False)
    assert response.status_code == 301
    assert response.headers["location"] == f"{stack.url}/some/page?x=1"


def test_storage_upload_is_refused_from_outside(client, stack):
    before = sorted(p.name for p in (stack.state_dir / "storage_data").rglob("*") if p.is_file())
    for headers in ({}, {"Authorization": f"Bearer {stack.env['STORAGE_TOKEN']}"}):
        refused = client.post("/storage/upload?filename=x.txt", content=b"evil", headers=headers)
        assert refused.status_code in (403, 404, 405), refused.text
    after = sorted(p.name for p in (stack.state_dir / "storage_data").rglob("*") if p.is_file())
    assert after == before, "a write reached the storage volume from outside"


def test_up_again_keeps_the_running_services(stack):
    before = {name: s["pid"] for name, s in stack.refresh()["services"].items()}
    stack.up()
    after = {name: s["pid"] for name, s in stack.status["services"].items()}
    assert after == before


@pytest.mark.parametrize(
    ("variable", "problem", "fix"),
    [
        ("PG_BIN", "PostgreSQL ≥ 15 binaries not found", "apt-get install postgresql-15"),
        ("NGINX_BIN", "nginx not found", "apt-get install nginx-light"),
    ],
)
def test_a_missing_binary_is_named_with_the_fix(rendered_project, variable, problem, fix):
    result = subprocess.run(
        [sys.executable, str(rendered_project / "scripts/local/stack.py"), "up", "--detach",
         "--state-dir", str(rendered_project / f".stack-missing-{variable}")],
        env={**os.environ, variable: "/nonexistent/binary"},
        capture_output=True,
        text=True,
    )  # fmt: skip
    assert result.returncode == 1
    assert problem in result.stderr and fix in result.stderr
    assert "Traceback" not in result.stderr


def test_foreground_up_stops_everything_on_ctrl_c(session_tmp):
    """`up` without --detach serves until Ctrl-C, then stops every process it started."""
    base = session_tmp / "foreground"
    base.mkdir()
    project = render(base / "project")
    state = base / "state"
    with subprocess.Popen(
        [sys.executable, str(project / "scripts/local/stack.py"), "up", "--state-dir", str(state)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as runner:
        try:
            lines = []
            for line in runner.stdout:
                lines.append(line)
                if "Press Ctrl-C" in line:
                    break
            assert any("Stack healthy" in line for line in lines), "".join(lines)
            pids = json.loads((state / "run" / "stack.json").read_text())["pids"]
            assert set(pids) == {
                "postgres",
                "storage",
                "backend",
                "frontend",
                "nginx",
                "mailer",
                "watcher",
            }
            runner.send_signal(signal.SIGINT)
            assert runner.wait(timeout=60) == 0
            assert "Stack stopped" in runner.stdout.read()
        finally:
            if runner.poll() is None:
                # A failed check above: Ctrl-C still stops the services (a kill would orphan them).
                runner.send_signal(signal.SIGINT)
                try:
                    runner.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    runner.kill()
    still_running = [name for name, pid in pids.items() if pid_alive(pid)]
    assert not still_running, f"still running after Ctrl-C: {still_running}"


def test_runner_runs_the_services_own_suites(session_tmp):
    """`stack.py test` runs each service's pytest with the stack's virtualenv and PostgreSQL."""
    project = render(session_tmp / "suites-project")
    result = subprocess.run(
        [
            sys.executable,
            str(project / "scripts/local/stack.py"),
            "test",
            "--state-dir",
            str(session_tmp / "suites-state"),
            "--",
            "-q",
            "-p",
            "no:cacheprovider",
            "-k",
            "health",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "--- backend tests" in result.stdout and "--- storage tests" in result.stdout
    assert len(re.findall(r"\d+ passed", result.stdout)) == 2, result.stdout[-2000:]
    # It started PostgreSQL for the run, so it stopped it afterwards.
    state = json.loads((session_tmp / "suites-state" / "run" / "stack.json").read_text())
    assert state["pids"] == {}


def test_a_checkout_without_env_gets_new_secrets_on_request(session_tmp):
    """A teammate's clone or a CI job has no .env (git-ignored): `up` says how to make one,
    `secrets` makes it, and never replaces an existing one."""
    project = render(session_tmp / "no-env")
    (project / ".env").unlink()
    runner = [sys.executable, str(project / "scripts/local/stack.py")]
    refused = subprocess.run([*runner, "up", "--detach"], capture_output=True, text=True)
    assert refused.returncode == 1
    assert "stack.py secrets" in refused.stderr and "Traceback" not in refused.stderr

    made = subprocess.run([*runner, "secrets"], capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    env = read_env(project / ".env")
    assert env.keys() == read_env(project / ".env.example").keys()
    assert all(re.fullmatch(r"[0-9a-f]{64}", value) for value in env.values())
    assert (project / ".env").stat().st_mode & 0o777 == 0o600

    before = (project / ".env").read_bytes()
    again = subprocess.run([*runner, "secrets"], capture_output=True, text=True)
    assert again.returncode == 1 and "its secrets are kept" in again.stderr
    assert (project / ".env").read_bytes() == before


def test_an_old_python_is_refused_with_the_fix(monkeypatch, capsys):
    monkeypatch.setattr(cli.sys, "version_info", (3, 10, 12))
    assert cli.main(["status"]) == 1
    assert "Python ≥ 3.11 is needed" in capsys.readouterr().err


# --- security round 2: what a user meets through the edge ----------------------------------------


def _upload(client, user, content: bytes, name: str = "private.txt") -> dict:
    uploaded = client.post(
        "/api/upload", headers=user["headers"], files={"file": (name, content, "text/plain")}
    )
    assert uploaded.status_code == 201, uploaded.text
    return uploaded.json()


def test_download_links_are_private_and_expire(client, user, stack):
    record = _upload(client, user, b"for my eyes only\n")
    path, _, query = record["url"].partition("?")
    assert "signature=" in query and "expires=" in query
    good = client.get(record["url"])
    assert good.status_code == 200 and good.content == b"for my eyes only\n"
    cache_control = good.headers["cache-control"]
    assert cache_control.startswith("private, max-age=") and "immutable" not in cache_control
    # DOWNLOAD_LINK_MINUTES (60 by default), rounded up to the minute
    assert int(cache_control.rsplit("=", 1)[1]) <= 61 * 60
    bare = client.get(path)  # the stored name alone is no longer a key to the file
    assert bare.status_code == 403
    assert bare.json()["detail"] == in_site_language(
        stack,
        fr="Ce lien de téléchargement n'est pas valide : rouvrez le fichier depuis votre liste de "
        "fichiers.",
        en="This download link is not valid: open the file again from your list of files.",
    )
    forged = client.get(record["url"].replace("expires=", "expires=1"))
    assert forged.status_code == 403
    # Deleted: the link stops working.
    assert client.delete(f"/api/files/{record['id']}", headers=user["headers"]).status_code == 204
    assert client.get(record["url"]).status_code == 404
    # Nothing of the link in the edge's logs.
    logs = "".join(p.read_text(errors="replace") for p in stack.state_dir.rglob("*.log"))
    assert query.split("signature=")[1] not in logs


def test_a_deactivated_owners_links_and_sessions_stop(client, stack):
    email, password = "leaver@example.com", "correct horse battery"
    assert (
        client.post("/api/auth/register", json={"email": email, "password": password}).status_code
        == 201
    )
    login = client.post("/api/auth/login", data={"username": email, "password": password})
    owner = {"headers": {"Authorization": f"Bearer {login.json()['access_token']}"}}
    record = _upload(client, owner, b"leaving soon\n")
    assert client.get(record["url"]).status_code == 200
    admin = client.post(
        "/api/auth/login",
        data={
            "username": stack.env["FIRST_ADMIN_EMAIL"],
            "password": stack.env["FIRST_ADMIN_PASSWORD"],
        },
    )
    admin_headers = {"Authorization": f"Bearer {admin.json()['access_token']}"}
    me = client.get("/api/users/me", headers=owner["headers"]).json()
    off = client.patch(f"/api/users/{me['id']}", headers=admin_headers, json={"is_active": False})
    assert off.status_code == 200, off.text
    assert client.get(record["url"]).status_code == 404
    assert client.get("/api/users/me", headers=owner["headers"]).status_code == 403


def test_a_file_of_exactly_the_size_limit_passes_and_one_byte_more_does_not(client, user, stack):
    limit = int(stack.env["MAX_UPLOAD_MB"]) * 1_000_000  # decimal megabytes, as the interface says
    record = _upload(client, user, b"x" * limit, "exact.bin")
    assert record["size"] == limit
    client.delete(f"/api/files/{record['id']}", headers=user["headers"])
    over = client.post(
        "/api/upload", headers=user["headers"], files={"file": ("over.bin", b"x" * (limit + 1))}
    )
    assert over.status_code == 413
    limit_mb = stack.env["MAX_UPLOAD_MB"]
    assert over.json()["detail"] == in_site_language(
        stack,
        fr=f"Le fichier dépasse la limite d'envoi de {limit_mb} Mo : envoyez un fichier plus "
        "petit.",
        en=f"The file is larger than the {limit_mb} MB upload limit.",
    )


def test_cross_site_requests_are_refused_and_the_site_itself_works_on_its_port(client, stack):
    form = {"username": "nobody@example.com", "password": "wrong password"}
    evil = client.post(
        "/api/auth/login",
        headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
        data=form,
    )
    assert evil.status_code == 403
    assert evil.json()["detail"].startswith(
        in_site_language(
            stack, fr="Requête d'un autre site refusée", en="Cross-site request refused"
        )
    )
    # The runner's edge listens on a port of its own: the page's Origin carries it.
    assert stack.url.startswith("https://localhost:")
    own = client.post("/api/auth/login", headers={"Origin": stack.url}, data=form)
    assert own.status_code == 401


def test_authenticated_answers_are_not_stored_and_redirects_stay_on_the_site(client, user, stack):
    me = client.get("/api/users/me", headers=user["headers"])
    assert me.headers["cache-control"] == "no-store"
    redirect = client.get(
        "/api/users/", headers={**user["headers"], "X-Forwarded-Host": "evil.example"}
    )
    location = redirect.headers.get("location", "")
    assert "evil" not in location and (not location or location.startswith(stack.url))


def test_the_state_and_data_folders_and_env_are_private(stack):
    # As root, PostgreSQL and the nginx workers must pass through: traverse only, no listing.
    private = 0o711 if os.geteuid() == 0 else 0o700
    for folder in (stack.state_dir, stack.state_dir / "storage_data"):
        assert folder.stat().st_mode & 0o777 == private, folder
    assert (stack.project / ".env").stat().st_mode & 0o777 == 0o600
