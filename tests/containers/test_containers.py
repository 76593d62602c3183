"""The production images and compose.yaml, built and run on a real Docker engine.

A deployment rendered with non-default answers is built with `docker compose build` and started
with `docker compose up --wait`, exactly as the deploy scripts do on a server, on the tests' own
dockerd (support/docker/engine.py). Then the checks a visitor and an operator would make go
through the containerised edge on this machine's ports 80 and 443: redirect, TLS, headers, sign-up,
upload, download, ranges, what stays internal; and a restart of the engine (a server reboot).

Real: Debian's Docker Engine, compose v2, the generated Dockerfiles and compose.yaml unchanged.
Stand-in: where no image registry answers, the official base images (python, nginx, postgres,
certbot) are look-alikes built from Debian packages under the official names
(support/docker/lookalike/README.md lists what differs); where one answers they are pulled.
The certificate is the self-signed placeholder: issuance through the containers is in
test_deploy.py, against Pebble.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from support.docker.engine import Engine, wait_healthy
from support.docker.images import base_images, ensure_base_images
from support.docker.site import http_get, https_client, port_is_closed, served_certificate
from support.project import read_env, render
from support.services import services

pytestmark = pytest.mark.containers

ANSWERS = {
    "project_name": "Atelier Photo",
    "domain": "atelier.example.net",
    "domain_aliases": "www.atelier.example.net",
    "ui_language": "en",
    "max_upload_mb": 3,
    "admin_email": "owner@atelier.example.net",
    "registration": "open",
}
SLUG = "atelier_photo"
DOMAIN = ANSWERS["domain"]
PASSWORD = "a long and unusual passphrase"


@dataclass
class Site:
    engine: Engine
    project: Path
    timings: dict[str, float]
    database_life: tuple[str, str] = ("", "")

    def client(self) -> httpx.Client:
        return https_client(DOMAIN)

    @property
    def containers(self) -> list[str]:
        """Every service's container, as compose.yaml names them."""
        return [service.container for service in services(self.project).values()]

    @property
    def checked(self) -> list[str]:
        """The containers with a health check (compose's or their image's)."""
        return [s.container for s in services(self.project).values() if s.healthcheck]

    def inspect(self, container: str) -> dict:
        return json.loads(self.engine.docker("inspect", container).stdout)[0]


@pytest.fixture(scope="module")
def site(docker_engine: Engine, session_tmp: Path) -> Iterator[Site]:
    project = render(session_tmp / "containers", **ANSWERS)
    timings: dict[str, float] = {}
    start = time.monotonic()
    ensure_base_images(docker_engine, base_images(project))
    timings["base images"] = time.monotonic() - start
    start = time.monotonic()
    docker_engine.compose(project, "build", timeout=1200)
    timings["compose build"] = time.monotonic() - start
    try:
        start = time.monotonic()
        docker_engine.compose(project, "up", "--detach", "--wait", "--wait-timeout", "240")
        timings["compose up --wait"] = time.monotonic() - start
        site = Site(docker_engine, project, timings)
        site.database_life = database_life(site)
        yield site
    finally:
        docker_engine.compose(project, "down", "--volumes", "--timeout", "30", check=False)


@pytest.fixture(scope="module")
def account(site: Site) -> dict[str, object]:
    """A visitor who signed up, signed in and uploaded a file through the edge."""
    email = "visitor@example.org"
    content = os.urandom(700_000) + b"the end"
    with site.client() as client:
        created = client.post("/api/auth/register", json={"email": email, "password": PASSWORD})
        assert created.status_code == 201, created.text
        token = login(client, email)
        uploaded = client.post(
            "/api/upload",
            headers={"Authorization": f"Bearer {token}"},
            files={"file": ("holiday.jpg", content, "image/jpeg")},
        )
        assert uploaded.status_code == 201, uploaded.text
    return {"email": email, "content": content, "file": uploaded.json()}


def login(client: httpx.Client, email: str) -> str:
    answer = client.post("/api/auth/login", data={"username": email, "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    return answer.json()["access_token"]


# --- What compose started ------------------------------------------------------------------------
def test_every_service_of_compose_runs_and_reports_healthy(site: Site):
    states = wait_healthy(site.engine, site.checked)
    assert set(states.values()) == {"running healthy"}
    assert site.inspect(f"{SLUG}_certbot")["State"]["Status"] == "running"
    listed = site.engine.docker("ps", "--format", "{{.Names}}").stdout.split()
    assert sorted(listed) == sorted(site.containers)


def test_containers_share_one_network_and_the_named_volumes(site: Site):
    for container in site.containers:
        networks = site.inspect(container)["NetworkSettings"]["Networks"]
        assert list(networks) == [f"{SLUG}_network"], container
    volumes = set(site.engine.docker("volume", "ls", "--format", "{{.Name}}").stdout.split())
    expected = {
        f"{SLUG}_{v}"
        for v in (
            "postgres_data",
            "storage_data",
            "letsencrypt",
            "acme_webroot",
            "db_socket",
            "backup_state",
            "backup_repository",
        )
    }
    assert expected <= volumes
    mounts = {m["Name"] for m in site.inspect(f"{SLUG}_db")["Mounts"]}
    # The database's files, its socket (shared with the backup service), the local repository.
    assert mounts == {f"{SLUG}_{v}" for v in ("postgres_data", "db_socket", "backup_repository")}
    # The backup service reads the database's and the files' volumes, never writes them.
    backup = {m["Name"]: m["RW"] for m in site.inspect(f"{SLUG}_backup")["Mounts"]}
    assert backup[f"{SLUG}_postgres_data"] is False and backup[f"{SLUG}_storage_data"] is False


def test_only_the_edge_publishes_ports(site: Site):
    published = {}
    for container in site.containers:
        ports = site.inspect(container)["NetworkSettings"]["Ports"] or {}
        published[container] = sorted(p for p, bindings in ports.items() if bindings)
    assert published.pop(f"{SLUG}_nginx") == ["443/tcp", "80/tcp"]
    assert not any(published.values()), published
    for port in (5432, 8000, 8060):
        assert port_is_closed(port), f"port {port} answers on this machine"


def test_the_database_is_unreachable_from_another_network(site: Site):
    """A container on Docker's default bridge (any other workload on the server) cannot open
    PostgreSQL's port, nor the backend's: the stack's network is isolated."""
    addresses = {
        name: site.inspect(f"{SLUG}_{name}")["NetworkSettings"]["Networks"][f"{SLUG}_network"][
            "IPAddress"
        ]
        for name in ("db", "backend")
    }
    targets = [(addresses["db"], 5432), (addresses["backend"], 8000)]
    probe = (
        "import socket\n"
        f"for address in {targets!r}:\n"
        "    try:\n"
        "        socket.create_connection(address, timeout=3).close()\n"
        "        print(f'{address[1]}-open')\n"
        "    except OSError:\n"
        "        pass\n"
        "print('probed')\n"
    )

    def probe_from(network: str) -> list[str]:
        return site.engine.docker(
            "run", "--rm", "--network", network, f"{SLUG}/backend:latest", "python", "-c", probe
        ).stdout.split()

    assert probe_from("bridge") == ["probed"]
    # The same probe from inside the stack's network does reach them: the check above can fail.
    assert probe_from(f"{SLUG}_network") == ["5432-open", "8000-open", "probed"]


# --- The edge, as a visitor reaches it -----------------------------------------------------------
def test_plain_http_redirects_to_https_on_the_domain(site: Site):
    answer = http_get(DOMAIN, "/files?page=2")
    assert answer.status_code == 301
    assert answer.headers["location"] == f"https://{DOMAIN}/files?page=2"


def test_https_serves_the_placeholder_certificate_for_the_domain(site: Site):
    names = subprocess.run(
        ["openssl", "x509", "-inform", "DER", "-noout", "-ext", "subjectAltName"],
        input=served_certificate(DOMAIN),
        capture_output=True,
        check=True,
    ).stdout.decode()
    assert names.split()[-1] == f"DNS:{DOMAIN}"


def test_pages_carry_the_security_headers_and_the_english_interface(site: Site):
    with site.client() as client:
        page = client.get("/")
    assert page.status_code == 200
    assert 'lang="en"' in page.text
    assert "max-age=63072000" in page.headers["strict-transport-security"]
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"


def test_alias_redirects_to_the_canonical_name(site: Site):
    with https_client(f"www.{DOMAIN}") as client:
        answer = client.get("/files")
    assert answer.status_code == 301
    assert answer.headers["location"] == f"https://{DOMAIN}/files"


def test_sign_up_sign_in_upload_and_download_the_same_bytes(site: Site, account):
    record = account["file"]
    assert record["size"] == len(account["content"])
    assert record["sha256"] == hashlib.sha256(account["content"]).hexdigest()
    with site.client() as client:
        download = client.get(record["url"])
    assert download.status_code == 200
    assert download.content == account["content"]
    assert download.headers["content-type"] == "image/jpeg"
    assert download.headers["content-disposition"] == "inline"


def test_downloads_support_ranges(site: Site, account):
    with site.client() as client:
        part = client.get(account["file"]["url"], headers={"Range": "bytes=100-199"})
    assert part.status_code == 206
    assert part.content == account["content"][100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(account['content'])}"


def test_an_upload_over_the_limit_is_refused_with_json(site: Site, account):
    with site.client() as client:
        token = login(client, account["email"])
        refused = client.post(
            "/api/upload",
            headers={"Authorization": f"Bearer {token}"},
            files={"file": ("big.bin", b"x" * (4 * 1024 * 1024), "application/octet-stream")},
        )
    assert refused.status_code == 413
    assert refused.headers["content-type"].startswith("application/json")


def test_writes_to_files_and_internal_routes_are_refused(site: Site, account):
    token = read_env(site.project / ".env")["STORAGE_TOKEN"]
    with site.client() as client:
        for method in ("PUT", "DELETE", "POST"):
            answer = client.request(method, account["file"]["url"])
            assert answer.status_code == 405, (method, answer.status_code)
        for path in ("/storage/upload?filename=x.txt", "/storage/health/ready"):
            answer = client.post(path, content=b"x", headers={"Authorization": f"Bearer {token}"})
            assert answer.status_code in (403, 404, 405), (path, answer.status_code)
        assert client.get(account["file"]["url"]).content == account["content"]


# --- The edge's connections to the services ------------------------------------------------------
def address_of(site: Site, service: str) -> str:
    networks = site.inspect(f"{SLUG}_{service}")["NetworkSettings"]["Networks"]
    return networks[f"{SLUG}_network"]["IPAddress"]


def edge_connections_to(site: Site, address: str, port: int) -> set[str]:
    """Local ports of the edge's established connections to address:port (its /proc/net/tcp)."""
    table = site.engine.docker("exec", f"{SLUG}_nginx", "cat", "/proc/net/tcp").stdout
    remote = "".join(f"{int(octet):02X}" for octet in reversed(address.split("."))) + f":{port:04X}"
    found = set()
    for line in table.splitlines()[1:]:
        fields = line.split()
        if fields[2] == remote and fields[3] == "01":  # 01: ESTABLISHED
            found.add(fields[1])
    return found


def test_the_edge_reuses_its_connections_to_the_backend(site: Site):
    """The containerised edge keeps a pool of keep-alive connections to the backend (an upstream
    group whose name nginx follows through Docker's DNS): the connections that carried one batch
    of requests are still open and carry the next. Without the pool each request opens and closes
    its own, and none is left established between batches."""
    backend = address_of(site, "backend")
    with site.client() as client:
        for _ in range(20):
            assert client.get("/api/health").status_code == 200
        first = edge_connections_to(site, backend, 8000)
        for _ in range(20):
            assert client.get("/api/health").status_code == 200
        second = edge_connections_to(site, backend, 8000)
    assert first, "no connection from the edge to the backend stayed open"
    assert first & second, (first, second)


def test_the_edge_follows_a_backend_replaced_with_a_new_address(site: Site):
    """A backend container replaced by another with a new address is reached again within
    seconds, with no reload of the edge; while none runs, visitors get a JSON 503 that says when
    to try again, never an HTML 502 page."""
    edge_started = site.inspect(f"{SLUG}_nginx")["State"]["StartedAt"]
    old_address = address_of(site, "backend")
    site.engine.compose(site.project, "stop", "backend")
    site.engine.compose(site.project, "rm", "--force", "backend")
    # Hold the freed address, or Docker could give it to the new container again.
    holder = f"{SLUG}_address_holder"
    site.engine.docker(
        "run", "--detach", "--rm", "--name", holder, "--network", f"{SLUG}_network",
        "--ip", old_address, "--entrypoint", "sleep", f"{SLUG}/backend:latest", "600",
    )  # fmt: skip
    try:
        with site.client() as client:
            down = client.get("/api/health")
            assert down.status_code == 503, down.text
            assert down.headers["content-type"] == "application/json"
            assert down.headers["retry-after"] == "5"
            # This site answers in English (ui_language above), the edge's own sentences too.
            assert down.json()["detail"] == (
                "The service is unavailable for a moment: try again shortly."
            )
            site.engine.compose(
                site.project, "up", "--detach", "--no-deps", "--wait", "--wait-timeout", "120",
                "backend",
            )  # fmt: skip
            healthy = time.monotonic()
            new_address = address_of(site, "backend")
            assert new_address != old_address
            answers = []
            while time.monotonic() - healthy < 15:
                answer = client.get("/api/health")
                answers.append(answer)
                if answer.status_code == 200:
                    break
                time.sleep(0.2)
        followed = time.monotonic() - healthy
    finally:
        site.engine.docker("rm", "--force", holder, check=False)
    assert answers[-1].status_code == 200, answers[-1].text
    for answer in answers[:-1]:
        assert answer.status_code == 503 and answer.headers["retry-after"] == "5", answer.text
    assert site.inspect(f"{SLUG}_nginx")["State"]["StartedAt"] == edge_started
    site.timings["edge reaches the new backend after it is healthy"] = followed


def database_life(site: Site) -> tuple[str, str]:
    """When PostgreSQL's server started, and its checkpointer's pid: a server that crashed and
    reinitialised inside its container (all its processes restarted) has a new checkpointer."""
    query = (
        "SELECT pg_postmaster_start_time(), pid FROM pg_stat_activity"
        " WHERE backend_type = 'checkpointer'"
    )
    answer = site.engine.docker(
        "exec", f"{SLUG}_db", "sh", "-c",
        'psql -U "$POSTGRES_USER" -d "$POSTGRES_DB" -tA -F " " -c "$0"', query,
    )  # fmt: skip
    started, pid = answer.stdout.strip().rsplit(" ", 1)
    return started, pid


def test_no_service_restarted_while_the_site_was_used(site: Site):
    """`restart: unless-stopped` hides a crash loop: a service that died and came back answers
    again, and every check before this one can pass. Docker counts such restarts; PostgreSQL's
    own restarts inside its container show in its start time and its checkpointer."""
    restarts = {name: site.inspect(name)["RestartCount"] for name in site.containers}
    assert restarts == dict.fromkeys(site.containers, 0)
    assert database_life(site) == site.database_life


# --- A server reboot -----------------------------------------------------------------------------
def test_everything_comes_back_healthy_with_its_data_after_an_engine_restart(site: Site, account):
    started = time.monotonic()
    site.engine.restart()
    wait_healthy(site.engine, site.checked, timeout=240)
    site.timings["healthy again after an engine restart"] = time.monotonic() - started
    assert site.inspect(f"{SLUG}_certbot")["State"]["Status"] == "running"
    with site.client() as client:
        token = login(client, account["email"])
        files = client.get("/api/files", headers={"Authorization": f"Bearer {token}"}).json()
        assert [f["name"] for f in files["items"]] == ["holiday.jpg"]
        assert client.get(account["file"]["url"]).content == account["content"]
    print("\ncontainer timings (s):", {k: round(v, 1) for k, v in site.timings.items()})
