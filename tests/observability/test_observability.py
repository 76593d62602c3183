"""Errors with their story and metrics, on a stack of this module (issue 28, parts 2 and 3).

Real parts: the stack booted by its native runner (PostgreSQL, the edge and frontend nginx, the
backend under gunicorn with 2 workers, storage under uvicorn), Chromium (Playwright), and a
Sentry-protocol receiver on loopback (tests/support/sentry.py) that SENTRY_DSN points at: the
services' real sentry-sdk sends it real envelopes. The stack runs with ENVIRONMENT=local and
ENABLE_ERROR_ROUTE=true, so GET /api/debug/error answers a real 500 (docs/observability.md).
Metrics are read with prometheus-client's own parser, in the services' virtualenv.

One stand-in: to make the page meet that 500, the browser's request for the file list is answered
with the stack's answer to /api/debug/error (Playwright's route.fetch with the same headers, then
route.fulfill with that response, unaltered).
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import httpx
import pytest
from playwright.sync_api import expect
from support.browser import PASSWORD, Site, make_site, sign_in, unique_email
from support.project import Stack, boot_stack, in_site_language, services_venv
from support.sentry import Receiver, sentry_receiver
from support.waiting import wait_for

pytestmark = [pytest.mark.observability, pytest.mark.timeout(180)]

EDGE_ID = re.compile(r"[0-9a-f]{32}")


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with sentry_receiver() as running:
        yield running


@pytest.fixture(scope="module")
def own_stack(session_tmp: Path, receiver: Receiver) -> Iterator[Stack]:
    booted = boot_stack(
        session_tmp / "observability",
        settings={
            "ENVIRONMENT": "local",
            "ENABLE_ERROR_ROUTE": "true",
            "SENTRY_DSN": receiver.dsn,
            "AUTH_RATE_PER_MINUTE": "600",
            "BACKEND_WORKERS": "2",
        },
    )
    yield booted
    booted.down()


@pytest.fixture(scope="module")
def site(own_stack: Stack) -> Site:
    return make_site(own_stack)


@pytest.fixture(scope="module")
def member(site: Site) -> dict:
    """A signed-up account: its e-mail, password, access token, refresh cookie and id."""
    email = unique_email("observed")
    site.register(email, PASSWORD)
    with site.api() as client:
        login = client.post("/api/auth/login", data={"username": email, "password": PASSWORD})
        assert login.status_code == 200, login.text
        token = login.json()["access_token"]
        cookies = {name: value for name, value in client.cookies.items()}
        me = client.get("/api/users/me", headers={"Authorization": f"Bearer {token}"}).json()
    return {"email": email, "token": token, "cookies": cookies, "id": str(me["id"])}


def found(check, timeout: float, what: str = ""):
    """What `check` returns once it returns something (wait_for returns the time it took)."""
    wait_for(check, timeout, interval=0.2, what=what)
    return check()


def json_lines(path: Path) -> list[dict]:
    lines = []
    for line in path.read_text(errors="replace").splitlines() if path.is_file() else []:
        try:
            lines.append(json.loads(line))
        except ValueError:
            continue  # gunicorn's and nginx's own start-up lines are not JSON
    return lines


def lines_with(path: Path, request_id: str) -> list[dict]:
    return [line for line in json_lines(path) if line.get("request_id") == request_id]


def edge_log(stack: Stack) -> Path:
    return stack.state_dir / "nginx" / "logs" / "access.log"


def test_a_request_gets_an_id_found_in_the_edge_backend_and_storage_logs(
    own_stack: Stack, site: Site, member: dict
):
    headers = {"Authorization": f"Bearer {member['token']}"}
    with site.api() as client:
        # A client's own id is not kept (no trusted source by default): the edge makes one.
        answer = client.get(
            "/api/files/usage", headers={**headers, "X-Request-ID": "planted-by-a-client"}
        )
        upload = client.post(
            "/api/upload", headers=headers, files={"file": ("a.txt", b"hello", "text/plain")}
        )
    assert answer.status_code == 200 and upload.status_code == 201, upload.text
    request_id = answer.headers["X-Request-ID"]
    assert EDGE_ID.fullmatch(request_id), request_id
    edge_lines = found(
        lambda: lines_with(edge_log(own_stack), request_id), 5, what="the edge's access line"
    )
    assert edge_lines[0]["route"] == "/api/files/usage" and edge_lines[0]["status"] == 200
    (backend_line,) = found(
        lambda: lines_with(own_stack.state_dir / "logs" / "backend.log", request_id),
        5,
        what="the backend's access line",
    )
    shape = {"ts", "level", "service", "request_id", "method", "route", "status", "duration_ms"}
    assert shape | {"user_id", "message"} <= set(backend_line) & set(edge_lines[0])
    assert backend_line["service"] == "backend" and backend_line["level"] == "info"
    assert backend_line["route"] == "/api/files/usage" and backend_line["status"] == 200
    assert backend_line["user_id"] == member["id"]
    assert "planted-by-a-client" not in edge_log(own_stack).read_text()
    # The upload's call from the backend to storage carries the upload's id.
    upload_id = upload.headers["X-Request-ID"]
    storage_lines = found(
        lambda: lines_with(own_stack.state_dir / "logs" / "storage.log", upload_id),
        5,
        what="storage's line for the upload",
    )
    assert {line["route"] for line in storage_lines} == {"/storage/upload"}
    assert all(line["service"] == "storage" for line in storage_lines)
    # The mailer, the backend's code in a process of its own, writes the same shape under its name.
    started = found(
        lambda: [
            line
            for line in json_lines(own_stack.state_dir / "logs" / "mailer.log")
            if line.get("logger") == "app.mailer"  # "sending mail through" the runner's catcher
        ],
        5,
        what="the mailer's start line",
    )[0]  # then a line per mail it sent (the sign-up's verification)
    assert started["service"] == "mailer" and started["request_id"] is None


def test_a_500_shows_its_id_on_the_page_in_the_logs_and_in_the_report(
    own_stack: Stack, site: Site, member: dict, receiver: Receiver, open_page
):
    password_marker = f"pw-{uuid.uuid4().hex}"
    with site.api() as client:
        client.cookies.update(member["cookies"])
        answer = client.get(
            "/api/debug/error",
            params={"password": password_marker, "email": member["email"]},
            headers={"Authorization": f"Bearer {member['token']}"},
        )
    assert answer.status_code == 500
    request_id = answer.json()["request_id"]
    assert request_id == answer.headers["X-Request-ID"]
    assert answer.json()["detail"].startswith(
        in_site_language(own_stack, fr="Erreur interne :", en="Internal error:")
    )
    backend_lines = found(
        lambda: lines_with(own_stack.state_dir / "logs" / "backend.log", request_id),
        5,
        what="the backend's lines of the 500",
    )
    assert any("Traceback" in line.get("exception", "") for line in backend_lines)
    found(lambda: lines_with(edge_log(own_stack), request_id), 5, what="the edge's line")

    def the_report() -> list[dict]:
        return [
            (envelope, event)
            for envelope in receiver.received()
            for event in envelope.events
            if event.get("tags", {}).get("request_id") == request_id
        ]

    ((envelope, event),) = found(the_report, 10, what="the exception's envelope")
    assert event["exception"]["values"][-1]["type"] == "RuntimeError"
    assert event["user"] == {"id": member["id"]}
    raw = envelope.raw.decode(errors="replace")
    for secret in (
        password_marker,
        member["email"],
        member["token"],
        *member["cookies"].values(),
    ):
        assert secret not in raw, "a secret in the report"
    assert not re.search(r"eyJ[A-Za-z0-9_-]{10,}\.", raw), "a JWT in the report"
    assert not re.search(r"[\w.+-]+@[\w-]+\.[\w.]+", raw), "an e-mail address in the report"

    # The page: the file list's request meets the same kind of failure and shows its id.
    page, watch = open_page()
    # A pattern the driver matches itself: the page's other requests (the sign-in's) are not held
    # for Python, and this one is answered with what the stack answers /api/debug/error (fetched
    # by Playwright with the page's headers), not re-sent by Chromium to another URL: under load,
    # both ways failed now and then as a network error (the page said "server unreachable").
    page.route(
        re.compile(r"/api/files(\?|$)"),
        lambda route: route.fulfill(response=route.fetch(url=f"{site.url}/api/debug/error")),
    )
    sign_in(page, site, member["email"])
    sentence = re.escape(site.T("error.reportId", id="ID")).replace("ID", "[0-9a-f]{32}")
    shown = page.get_by_text(re.compile(sentence))
    expect(shown).to_be_visible()
    page_id = re.search(r"[0-9a-f]{32}", shown.inner_text()).group(0)
    found(lambda: lines_with(own_stack.state_dir / "logs" / "backend.log", page_id), 5, "its line")
    watch.assert_clean(expected={("/api/files", 500)})


def test_the_pages_own_errors_reach_the_log_and_the_report(
    own_stack: Stack, site: Site, receiver: Receiver, open_page
):
    marker = f"boom-{uuid.uuid4().hex}"
    page, _ = open_page()
    page.goto(f"{site.url}/")
    page.evaluate(f"setTimeout(() => {{ throw new Error('{marker}'); }})")
    (line,) = found(
        lambda: [
            line
            for line in json_lines(own_stack.state_dir / "logs" / "backend.log")
            if line.get("logger") == "app.client" and marker in line.get("message", "")
        ],
        5,
        what="the page's error in the backend's log",
    )
    assert line["level"] == "warning" and line["client_error"]["kind"] == "error"
    wait_for(
        lambda: any(marker in envelope.raw.decode() for envelope in receiver.received()),
        10,
        what="the page's error in a report",
    )
    with site.api() as client:
        too_big = client.post("/api/client-errors", json={"message": "x" * 20_000})
        wrong = client.post("/api/client-errors", json={"message": "y" * 600})
    assert too_big.status_code == 413 and wrong.status_code == 422


def metric_samples(stack: Stack, url: str) -> list[tuple[str, dict, float]]:
    """GET url, parsed by prometheus_client.parser in the services' virtualenv."""
    text = httpx.get(url).raise_for_status().text
    python = services_venv(stack.project) / "bin" / "python"
    parsed = subprocess.run(
        [str(python), "-c", PARSE_METRICS], input=text, capture_output=True, text=True, check=True
    )
    return [tuple(sample) for sample in json.loads(parsed.stdout)]


PARSE_METRICS = """
import json, sys
from prometheus_client.parser import text_string_to_metric_families
print(json.dumps([[s.name, s.labels, s.value]
                  for family in text_string_to_metric_families(sys.stdin.read())
                  for s in family.samples]))
"""


def test_metrics_by_route_on_the_services_ports_and_never_through_the_edge(
    own_stack: Stack, site: Site, member: dict
):
    headers = {"Authorization": f"Bearer {member['token']}"}
    with site.api() as client:
        for _ in range(3):
            assert client.get("/api/users/me", headers=headers).status_code == 200
        assert client.get("/storage/health").status_code == 200
        # Whatever path might reach a service's /metrics from outside: a 404, no figures. Sent
        # as written (raw_path): httpx would otherwise resolve the dots and slashes itself.
        for path in ("/metrics", "/api/metrics", "/storage/metrics", "/api/../metrics",
                     "/storage/../metrics", "/api/%2E%2E/metrics", "/api/..%2Fmetrics",
                     "//metrics", "/api//metrics"):  # fmt: skip
            refused = client.get(httpx.URL(site.url).copy_with(raw_path=path.encode()))
            assert refused.status_code == 404, path
            assert "http_requests_total" not in refused.text, path
    backend = metric_samples(own_stack, f"http://127.0.0.1:{own_stack.port('backend')}/metrics")
    me = [
        value
        for name, labels, value in backend
        if name == "http_requests_total"
        and labels.get("route") == "/api/users/me"
        and labels.get("status") == "200"
    ]
    assert me and sum(me) >= 3  # summed over both workers
    assert any(name == "http_request_duration_seconds_bucket" for name, _, _ in backend)
    assert any(name == "db_pool_connections" for name, _, _ in backend)
    storage = metric_samples(own_stack, f"http://127.0.0.1:{own_stack.port('storage')}/metrics")
    assert any(
        name == "http_requests_total" and labels.get("route") == "/storage/health"
        for name, labels, _ in storage
    )
    # nginx's basic status, on the edge's socket of the state dir (port 8081 in Docker).
    transport = httpx.HTTPTransport(uds=str(own_stack.state_dir / "nginx" / "status.sock"))
    with httpx.Client(transport=transport) as client:
        status = client.get("http://edge/nginx_status")
    assert status.status_code == 200 and "Active connections" in status.text


def watcher_metrics(stack: Stack) -> ModuleType:
    """The rendered watcher's own reader of /metrics (watcher/metrics.py: standard library only)."""
    path = next(stack.project.glob("*/watcher/watcher/metrics.py"))
    spec = importlib.util.spec_from_file_location("rendered_watcher_metrics", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file runs
    spec.loader.exec_module(module)
    return module


def test_the_watcher_reads_the_services_metrics_as_they_write_them(
    own_stack: Stack, site: Site, member: dict
):
    """The watcher's 5xx-rate and p95 checks (WATCH_METRICS) read what /metrics answers: two scrapes
    of the backend around 3 answered requests and one real 500 give it those 4 requests, a quarter
    of them errors, and a p95 from the latency buckets. Its health and metrics routes are left out
    of the figures (the watcher's own rounds), as the watcher says."""
    reader = watcher_metrics(own_stack)
    url = f"http://127.0.0.1:{own_stack.port('backend')}/metrics"
    window = reader.Window()
    window.add(reader.parse(httpx.get(url).raise_for_status().text, at=0.0))
    headers = {"Authorization": f"Bearer {member['token']}"}
    with site.api() as client:
        for _ in range(3):
            assert client.get("/api/users/me", headers=headers).status_code == 200
        assert client.get("/api/health").status_code == 200  # not a visitor's request
        assert client.get("/api/debug/error", headers=headers).status_code == 500
    window.add(reader.parse(httpx.get(url).raise_for_status().text, at=60.0))
    requests, error_share, p95_ms = window.figures()
    assert requests == 4 and error_share == 25.0, (requests, error_share)
    assert p95_ms is not None and 0 < p95_ms <= 30_000, p95_ms
