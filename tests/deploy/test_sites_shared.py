"""The shared edge (edge=shared) on the deploy layer's server (conftest.py), after test_sites.py:
the default site moves to the shared edge with its data and certificate; a second and a third
shared site, each with its own domain, language and upload limit, are deployed while visitors
read the sites already there (no failed request), each then serving its own pages with its own
certificate and limit, an unknown name getting none; the second site's containers cannot reach
the first's; a changed shared-edge configuration reloads under readers of every site (no failed
request); each site's rate limits count each client's own address; site_remove takes the second
off the edge, leaving the others serving and the second's volumes in place; the first site, once
the edge's last, moves back to its own edge with its certificate.

Real: the stand-ins of test_deploy.py, nothing more (sshd, the tests' Docker engine, Pebble).
"""

from __future__ import annotations

import json
import secrets
import shutil
import socket
import ssl
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest
from support.deploy import steady_load, swap_window
from support.deployment import DOMAIN, Deployment, project_containers, remote
from support.docker.site import https_client
from support.project import render
from support.waiting import wait_for

pytestmark = pytest.mark.deploy

BETA = "beta-site.com"
GAMMA = "gamma-site.org"
ACCESS_LOG = "/var/log/edge/access.log"  # a site edge's EDGE_ACCESS_LOG (compose.yaml)


def client_for(deployed: Deployment, domain: str):
    return https_client(domain, verify=ssl.create_default_context(cafile=deployed.pebble_root))


@pytest.fixture(scope="module")
def sites(deployed: Deployment, session_tmp: Path) -> Iterator[Path]:
    """Where this module renders its projects; the site it deployed is taken down after it."""
    folder = session_tmp / "shared-sites"
    yield folder
    for slug in ("beta", "gamma"):
        if remote(deployed, slug).exists():
            deployed.engine.compose(
                remote(deployed, slug), "down", "--volumes", "--timeout", "10", check=False
            )


@pytest.fixture(scope="module")
def shared(deployed: Deployment, sites: Path) -> Deployment:
    """The default site moved to the shared edge: rendered again with edge=shared (its .env, the
    secrets the server runs with, kept), then deploy_ssl."""
    project = render(sites / "closo", edge="shared")
    shutil.copy(deployed.project / ".env", project / ".env")
    serial = deployed.served_serial()
    result = deployed.run("deploy_ssl", project=project)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "starting the shared edge closo-edge" in result.stderr
    assert f"{DOMAIN} registered on the shared edge" in result.stderr
    assert deployed.served_serial() == serial, "the certificate changed in the move"
    deployed.project = project
    return deployed


@contextmanager
def readers(deployed: Deployment, *domains: str) -> Iterator[dict[str, list]]:
    """A visitor reading each domain's readiness in a loop while the block runs."""
    with ExitStack() as stack:
        yield {
            domain: stack.enter_context(
                steady_load(lambda d=domain: client_for(deployed, d), "/api/health/ready", {})
            )
            for domain in domains
        }


def assert_none_failed(seen_by: dict[str, list], during: str) -> None:
    for domain, answers in seen_by.items():
        seen = swap_window(answers)
        print(f"\n{domain} while {during}:", seen)
        assert len(answers) > 20 and seen["failed"] == 0, (domain, seen)


def deploy_another_site(shared: Deployment, project: Path, slug: str, *reading: str) -> None:
    """deploy_all of `project` into its own folder on the server, while visitors read `reading`."""
    folder = remote(shared, slug)
    folder.mkdir(exist_ok=True)
    override = shutil.copy(shared.server.remote_dir / "compose.override.yaml", folder)
    shutil.chown(folder, shared.server.user, shared.server.user)
    shutil.chown(override, shared.server.user, shared.server.user)
    with readers(shared, *reading) as seen_by:
        result = shared.run("deploy_all", project=project, REMOTE_DIR=str(folder))
    shared.timings[f"deploy_all, shared site {slug}"] = shared.last_seconds
    assert result.returncode == 0, result.stdout + result.stderr
    assert_none_failed(seen_by, f"{slug} deploys")


@pytest.fixture(scope="module")
def beta(shared: Deployment, sites: Path) -> Path:
    """A second shared site (English, 1 MB uploads), deployed while a visitor reads the first."""
    project = render(
        sites / "beta",
        project_name="Beta",
        project_slug="beta",
        domain=BETA,
        ui_language="en",
        max_upload_mb="1",
        edge="shared",
    )
    deploy_another_site(shared, project, "beta", DOMAIN)
    return project


@pytest.fixture(scope="module")
def gamma(shared: Deployment, beta: Path, sites: Path) -> Path:
    """A third shared site (French, 3 MB uploads), deployed while visitors read the other two."""
    project = render(
        sites / "gamma",
        project_name="Gamma",
        project_slug="gamma",
        domain=GAMMA,
        ui_language="fr",
        max_upload_mb="3",
        edge="shared",
    )
    deploy_another_site(shared, project, "gamma", DOMAIN, BETA)
    return project


@contextmanager
def another_client_address() -> Iterator[str]:
    """A second address of this machine (on the loopback device, from a documentation range): a
    client that connects to it reaches the published ports with it as its source (Docker's DNAT),
    where a client of 127.0.0.1 arrives through docker-proxy, from the network's gateway."""
    address = "198.51.100.7"
    subprocess.run(["ip", "address", "add", f"{address}/32", "dev", "lo"], check=True)
    try:
        yield address
    finally:
        subprocess.run(["ip", "address", "delete", f"{address}/32", "dev", "lo"], check=False)


def test_moving_a_site_to_the_shared_edge_keeps_it_serving(shared: Deployment):
    with shared.client() as client:
        page = client.get("/")
    assert page.status_code == 200 and '<html lang="fr">' in page.text
    assert "strict-transport-security" in page.headers
    ports = shared.engine.docker("port", "closo_nginx", check=False).stdout
    assert ports.strip() == "", f"the site's nginx still publishes ports: {ports}"


def test_a_second_site_gets_its_own_network_range(shared: Deployment, beta: Path):
    def subnet(network: str) -> str:
        return shared.engine.docker(
            "network", "inspect", "--format", "{{range .IPAM.Config}}{{.Subnet}}{{end}}", network
        ).stdout.strip()

    assert subnet("closo_network") == "172.30.57.0/24"
    assert subnet("beta_network").startswith("172.30.") and subnet("beta_network") != subnet(
        "closo_network"
    )


def test_each_domain_serves_its_own_site_with_its_certificate(
    shared: Deployment, beta: Path, gamma: Path
):
    for domain, language in ((DOMAIN, "fr"), (BETA, "en"), (GAMMA, "fr")):
        with client_for(shared, domain) as client:  # verifies the chain for `domain`
            page = client.get("/")
        assert page.status_code == 200, domain
        assert f'<html lang="{language}">' in page.text, domain
        assert page.headers["strict-transport-security"].startswith("max-age="), domain


def test_each_site_enforces_its_own_upload_limit(shared: Deployment, beta: Path, gamma: Path):
    """2 MB: over beta's 1 MB, under gamma's 3 MB; 4 MB: over gamma's, under the first site's
    50 MB. Under its limit, a site's backend answers (no token: 401, in JSON)."""
    headers = {"Content-Type": "application/octet-stream"}
    for size, over, under in ((2_000_000, BETA, GAMMA), (4_000_000, GAMMA, DOMAIN)):
        body = b"x" * size
        with client_for(shared, over) as client:
            refused = client.post("/api/upload", content=body, headers=headers)
        assert refused.status_code == 413, (size, over)
        with client_for(shared, under) as client:
            answer = client.post("/api/upload", content=body, headers=headers)
        assert answer.status_code != 413, (size, under)
        assert answer.headers["content-type"] == "application/json", (size, under)


def test_an_unknown_name_gets_no_site(shared: Deployment, beta: Path):
    context = ssl.create_default_context(cafile=shared.pebble_root)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with (
        socket.create_connection(("127.0.0.1", 443), timeout=10) as raw,
        pytest.raises((ssl.SSLError, ConnectionError, OSError)),
        context.wrap_socket(raw, server_hostname="unknown.example.net"),
    ):
        pass


def test_the_site_sees_the_clients_address_not_the_edges(shared: Deployment, beta: Path):
    """The PROXY protocol header: beta's edge logs the address the shared edge saw (its JSON
    access log, the file EDGE_ACCESS_LOG), and the shared edge logs that address for beta."""
    path = f"/proxy-protocol-check-{secrets.token_hex(4)}"
    with client_for(shared, BETA) as client:
        client.get(path)
    edge_ip = shared.engine.docker(
        "inspect",
        "--format",
        '{{(index .NetworkSettings.Networks "closo-edge").IPAddress}}',
        "closo-edge",
    ).stdout.strip()

    def last_line(lines: list[str], *words: str) -> str | None:
        return next((x for x in reversed(lines) if all(w in x for w in words)), None)

    def beta_logged() -> str | None:  # written in blocks, at the latest every second
        tail = shared.engine.docker("exec", "beta_nginx", "tail", "-n", "100", ACCESS_LOG)
        return last_line(tail.stdout.splitlines(), f'"route":"{path}"')

    def edge_logged(*words: str) -> str | None:
        return last_line(
            shared.engine.docker("logs", "--tail", "100", "closo-edge").stdout.splitlines(), *words
        )

    found: list[str] = []
    wait_for(lambda: found.append(beta_logged() or "") or found[-1], 10, what="beta's log line")
    address = json.loads(found[-1])["client"]
    assert address not in ("", edge_ip), found[-1]
    wait_for(lambda: edge_logged(address + " [", BETA), 10, what="the shared edge's log line")


def test_one_sites_backend_cannot_reach_another_sites_services(shared: Deployment, beta: Path):
    targets = []
    for service, port in (("db", 5432), ("backend", 8000), ("storage", 8060)):
        ip = shared.engine.docker(
            "inspect",
            "--format",
            '{{(index .NetworkSettings.Networks "closo_network").IPAddress}}',
            f"closo_{service}",
        ).stdout.strip()
        targets += [(f"closo_{service}", port), (ip, port)]
    probe = (
        "import socket, sys\n"
        f"for host, port in {targets!r}:\n"
        "    try:\n"
        "        socket.create_connection((host, port), timeout=3).close()\n"
        "        print('REACHED', host, port)\n"
        "    except OSError as error:\n"
        "        print('refused', host, port, error)\n"
    )
    result = shared.engine.docker("exec", "beta_backend", "python", "-c", probe)
    assert "REACHED" not in result.stdout, result.stdout
    assert result.stdout.count("refused") == len(targets), result.stdout


def test_a_changed_shared_edge_reloads_under_load_and_fails_no_request(
    shared: Deployment, beta: Path, gamma: Path
):
    """A newer template's edge configuration (same contract, one more line), brought by gamma's
    deploy_ssl while visitors read every site: checked, then reloaded gracefully."""
    ours = gamma / "scripts" / "prod" / "remote" / "shared-edge.conf"
    changed = ours.read_text() + "# A later template's edge: one more line.\n"
    ours.write_text(changed)
    with readers(shared, DOMAIN, BETA, GAMMA) as seen_by:
        result = shared.run("deploy_ssl", project=gamma, REMOTE_DIR=str(remote(shared, "gamma")))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "the shared edge's configuration was updated and reloaded (contract 1)" in result.stderr
    running = shared.engine.docker("exec", "closo-edge", "cat", "/etc/closo-edge/nginx.conf")
    assert running.stdout == changed
    assert_none_failed(seen_by, "the shared edge reloads")


def test_status_shows_the_shared_edge_and_its_sites(shared: Deployment, beta: Path, gamma: Path):
    result = shared.run("status", project=beta, REMOTE_DIR=str(remote(shared, "beta")))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "shared edge: closo-edge running, contract 1" in result.stdout, result.stdout
    assert f"ok   {DOMAIN} -> closo_nginx (running healthy)" in result.stdout
    assert f"ok   {BETA} -> beta_nginx (running healthy)" in result.stdout
    assert f"ok   {GAMMA} -> gamma_nginx (running healthy)" in result.stdout


def test_each_sites_rate_limit_counts_each_clients_own_address(shared: Deployment, beta: Path):
    """beta's log-in limit (AUTH_RATE_PER_MINUTE a minute per address, as many more at once) used
    up from one address answers 429 there, while a client of another address still gets the
    backend's own answer: behind the shared edge, the limit is not one for everybody."""

    def log_in(client: httpx.Client) -> int:
        email = f"nobody-{secrets.token_hex(4)}@{BETA}"  # never the same account's throttle
        return client.post("/api/auth/login", data={"username": email, "password": "x"}).status_code

    with client_for(shared, BETA) as client:
        statuses = [log_in(client) for _ in range(30)]
    assert 429 in statuses and set(statuses) == {401, 429}, statuses
    verify = ssl.create_default_context(cafile=shared.pebble_root)
    with another_client_address() as address, https_client(BETA, verify, address) as other:
        assert log_in(other) == 401
    with client_for(shared, BETA) as client:
        assert log_in(client) == 429


def test_site_remove_takes_one_site_off_and_leaves_the_others(
    shared: Deployment, beta: Path, gamma: Path
):
    folder = str(remote(shared, "beta"))
    refused = shared.run("site_remove", "keep", stdin="no\n", project=beta, REMOTE_DIR=folder)
    assert refused.returncode == 1 and "not confirmed" in refused.stderr
    result = shared.run("site_remove", "keep", stdin=f"{BETA}\n", project=beta, REMOTE_DIR=folder)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{BETA} taken off the shared edge" in result.stderr
    assert project_containers(shared, "beta") == []
    volumes = shared.engine.docker("volume", "ls", "--format", "{{.Name}}").stdout.split()
    assert {"beta_postgres_data", "beta_storage_data"} <= set(volumes)
    for domain in (DOMAIN, GAMMA):
        with client_for(shared, domain) as client:
            assert client.get("/api/health/ready").status_code == 200, domain
    # The shared edge no longer knows the name: it ends the TLS handshake.
    with pytest.raises(httpx.ConnectError), client_for(shared, BETA) as client:
        client.get("/")


def test_the_last_shared_site_moves_back_to_its_own_edge(
    shared: Deployment, beta: Path, gamma: Path, sites: Path
):
    """gamma taken off the edge too, the first site is the edge's last: rendered again with
    edge=own (its .env kept) and deploy_ssl, it gets the ports back from the shared edge, which is
    removed, and serves with the same certificate."""
    folder = str(remote(shared, "gamma"))
    result = shared.run("site_remove", "keep", stdin=f"{GAMMA}\n", project=gamma, REMOTE_DIR=folder)
    assert result.returncode == 0, result.stdout + result.stderr
    own = render(sites / "closo-own")  # edge=own: the default
    shutil.copy(shared.project / ".env", own / ".env")
    serial = shared.served_serial()
    result = shared.run("deploy_ssl", project=own)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{DOMAIN} was the shared edge's last site" in result.stderr
    shared.project = own
    assert shared.served_serial() == serial, "the certificate changed in the move"
    with shared.client() as client:
        page = client.get("/")
    assert page.status_code == 200 and '<html lang="fr">' in page.text
    edge = shared.engine.docker("ps", "--all", "--quiet", "--filter", "name=^closo-edge$")
    assert edge.stdout == "", "the shared edge is still there"
    assert "0.0.0.0:443" in shared.engine.docker("port", "closo_nginx").stdout
