"""Real ACME issuance and renewal against Pebble, through the edge rendered from the templates.

Pebble (Let's Encrypt's test ACME server) validates HTTP-01 for real: it resolves the names through
pebble-challtestsrv's DNS (every name is 127.0.0.1) and fetches the token from the edge's port 80.
certbot runs the generated scripts (certbot/bootstrap.sh, renew-loop.sh, deploy-hook.sh) and the
nginx container's watcher (nginx/docker-entrypoint.d/40-certificate-watcher.sh) reloads the edge,
exactly as in production minus Docker. sslyze then checks the Mozilla "intermediate" profile.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from support.edge import Edge, StubServer, make_test_ca, start_edge
from support.pebble import start_pebble
from support.ports import free_port
from support.processes import start_process, stop_process
from support.project import REPO_ROOT, Stack, render
from support.waiting import wait_for

pytestmark = pytest.mark.tls

DOMAIN = "clo-so.com"
ALIAS = "www.clo-so.com"
CERTBOT = REPO_ROOT / ".venv-tools" / "certbot" / "bin" / "certbot"
SSLYZE = REPO_ROOT / ".venv-tools" / "sslyze" / "bin" / "sslyze"


@dataclass
class Acme:
    """Pebble, the edge in front of a stub frontend, and the generated certbot scripts."""

    edge: Edge
    project: Path
    env: dict[str, str]  # for the certbot scripts
    pebble_root: Path
    first_served: bytes = b""  # DER of what the edge served right after it started

    def script(self, name: str) -> Path:
        return next(self.project.glob(f"*/certbot/{name}"))

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["sh", str(self.script(args[0])), *args[1:]],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def served_certificate(self) -> dict:
        context = ssl.create_default_context(cafile=str(self.pebble_root))
        with (
            socket.create_connection(("127.0.0.1", self.edge.https_port), timeout=5) as sock,
            context.wrap_socket(sock, server_hostname=DOMAIN) as tls,
        ):
            return tls.getpeercert()

    def wait_for_served_serial(self, other_than: str | None, timeout: float = 30) -> dict:
        """The served certificate once it verifies against Pebble and its serial differs, on three
        handshakes in a row: during nginx's graceful reload an old worker may still answer one
        connection with the certificate it had."""
        seen: dict = {}

        def new_certificate() -> bool:
            try:
                served = [self.served_certificate() for _ in range(3)]
            except ssl.SSLCertVerificationError as error:
                seen["error"] = error
                return False
            seen["cert"] = served[-1]
            return all(cert["serialNumber"] != other_than for cert in served)

        try:
            wait_for(new_certificate, timeout, interval=0.3)
        except AssertionError:
            raise AssertionError(
                f"the edge did not serve a new Pebble certificate: {seen.get('error')}\n"
                + self.edge.error_log()[-2000:]
            ) from None
        return seen["cert"]


@pytest.fixture(scope="module")
def acme(session_tmp: Path) -> Iterator[Acme]:
    assert CERTBOT.exists(), f"{CERTBOT} missing: run scripts/setup.sh (tools/certbot.txt)"
    base = session_tmp / "tls"
    project = render(base / "project", domain_aliases=ALIAS)
    listener_ca, listener_cert, listener_key = make_test_ca(base / "pebble-tls", ["localhost"])
    processes: list[subprocess.Popen] = []
    frontend = StubServer("frontend")
    try:
        # The edge first: Pebble needs its HTTP port. It starts on the placeholder certificate.
        tls_dir, webroot = base / "served", base / "acme-webroot"
        env = {
            **os.environ,
            "DOMAIN": DOMAIN,
            "DOMAIN_ALIASES": ALIAS,
            "SSL_EMAIL": "admin@clo-so.com",
            "ACME_WEBROOT": str(webroot),
            "TLS_CERTIFICATE": str(tls_dir / "fullchain.pem"),
            "TLS_CERTIFICATE_KEY": str(tls_dir / "privkey.pem"),
            "CERTBOT": str(CERTBOT),
            "CERTBOT_CONFIG_DIR": str(base / "letsencrypt"),
            "CERTBOT_WORK_DIR": str(base / "certbot-work"),
            "CERTBOT_LOGS_DIR": str(base / "certbot-logs"),
            "REQUESTS_CA_BUNDLE": str(listener_ca),
        }
        acme = Acme(edge=None, project=project, env=env, pebble_root=base / "pebble-root.pem")  # type: ignore[arg-type]
        placeholder = acme.run("bootstrap.sh", "placeholder")
        assert placeholder.returncode == 0, placeholder.stderr
        acme.edge = start_edge(
            project,
            base / "nginx",
            {
                "FRONTEND_UPSTREAM": frontend.address,
                "BACKEND_UPSTREAM": f"127.0.0.1:{free_port()}",
                "STORAGE_UPSTREAM": f"127.0.0.1:{free_port()}",
                "TLS_CERTIFICATE": env["TLS_CERTIFICATE"],
                "TLS_CERTIFICATE_KEY": env["TLS_CERTIFICATE_KEY"],
                "ACME_WEBROOT": str(webroot),
                "STORAGE_DATA_DIR": str(base / "storage_data"),
            },
        )

        env["ACME_SERVER"] = start_pebble(
            base,
            acme.edge.http_port,
            (listener_ca, listener_cert, listener_key),
            acme.pebble_root,
            processes,
        )

        # The nginx container's watcher, in the foreground against this edge, checking every second.
        processes.append(
            start_process(
                [
                    "sh",
                    str(
                        next(project.glob("*/nginx/docker-entrypoint.d/40-certificate-watcher.sh"))
                    ),
                    "--foreground",
                    *acme.edge.nginx_args,
                ],
                base / "watcher.log",
                {**env, "CERTIFICATE_CHECK_SECONDS": "1"},
            )
        )
        acme.first_served = _served_der(acme.edge.https_port)
        yield acme
    finally:
        for process in reversed(processes):
            stop_process(process)
        if acme.edge:
            acme.edge.stop()
        frontend.shutdown()
        frontend.server_close()


def _served_der(port: int) -> bytes:
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as sock,
        context.wrap_socket(sock, server_hostname=DOMAIN) as tls,
    ):
        return tls.getpeercert(binary_form=True)


@pytest.fixture(scope="module")
def issued(acme: Acme) -> subprocess.CompletedProcess[str]:
    """The first `bootstrap.sh obtain`, once nginx runs on the placeholder (tests may run apart)."""
    result = acme.run("bootstrap.sh", "obtain")
    assert result.returncode == 0, result.stderr
    acme.wait_for_served_serial(other_than=None)
    return result


def test_placeholder_lets_nginx_start_before_the_first_certificate(acme: Acme) -> None:
    text = subprocess.run(
        ["openssl", "x509", "-inform", "DER", "-noout", "-subject", "-issuer"],
        input=acme.first_served,
        capture_output=True,
        check=True,
    ).stdout.decode()
    assert "Placeholder until certbot" in text
    assert Path(acme.env["TLS_CERTIFICATE_KEY"]).stat().st_mode & 0o077 == 0


def test_bootstrap_obtains_a_certificate_by_http01_and_nginx_serves_it(
    acme: Acme, issued: subprocess.CompletedProcess[str]
) -> None:
    live = Path(acme.env["CERTBOT_CONFIG_DIR"]) / "live" / DOMAIN / "fullchain.pem"
    assert Path(acme.env["TLS_CERTIFICATE"]).read_bytes() == live.read_bytes(), issued.stderr
    cert = acme.served_certificate()  # verified against Pebble's root for DOMAIN
    names = {value for kind, value in cert["subjectAltName"] if kind == "DNS"}
    assert names == {DOMAIN, ALIAS}
    issuer = dict(part[0] for part in cert["issuer"])
    assert "Pebble" in issuer["commonName"]
    # A browser-like client over the edge: verified TLS, a page from the frontend.
    with httpx.Client(
        verify=ssl.create_default_context(cafile=str(acme.pebble_root)),
        base_url=f"https://127.0.0.1:{acme.edge.https_port}",
    ) as client:
        page = client.get("/", headers={"Host": DOMAIN}, extensions={"sni_hostname": DOMAIN})
    assert page.status_code == 200
    assert page.headers["strict-transport-security"] == "max-age=63072000"


def test_bootstrap_is_idempotent(acme: Acme, issued: object) -> None:
    served = Path(acme.env["TLS_CERTIFICATE"])
    before = (served.read_bytes(), served.stat().st_mtime_ns, acme.served_certificate())
    archive = Path(acme.env["CERTBOT_CONFIG_DIR"]) / "archive" / DOMAIN
    versions = sorted(p.name for p in archive.iterdir())
    result = acme.run("bootstrap.sh", "obtain")
    assert result.returncode == 0, result.stderr
    assert "nothing to do" in result.stderr
    assert sorted(p.name for p in archive.iterdir()) == versions
    assert (served.read_bytes(), served.stat().st_mtime_ns, acme.served_certificate()) == before


def test_mozilla_intermediate_compliance(acme: Acme, issued: object) -> None:
    assert SSLYZE.exists(), f"{SSLYZE} missing: run scripts/setup.sh (tools/sslyze.txt)"
    result = subprocess.run(
        [
            str(SSLYZE),
            "--mozilla_config=intermediate",
            "--certinfo_ca_file",
            str(acme.pebble_root),
            f"{DOMAIN}:{acme.edge.https_port}{{127.0.0.1}}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    assert f"{DOMAIN}:{acme.edge.https_port}: OK - Compliant." in result.stdout


def test_renewal_loop_renews_and_nginx_serves_the_new_certificate(
    acme: Acme, issued: object
) -> None:
    serial = acme.served_certificate()["serialNumber"]
    loop = subprocess.Popen(
        ["sh", str(acme.script("renew-loop.sh")), "--force-renewal", "--no-random-sleep-on-renew"],
        env={**acme.env, "RENEW_INTERVAL_HOURS": "48"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        renewed = acme.wait_for_served_serial(other_than=serial, timeout=60)
    finally:
        loop.send_signal(signal.SIGTERM)
        output = loop.communicate(timeout=10)[0]
    assert renewed["serialNumber"] != serial, output
    # docker stop: the loop ends at once, cleanly, while sleeping 48 hours.
    assert loop.returncode == 0, output
    assert "renewal loop stopped" in output


def test_native_runner_gets_its_certificate_from_acme(
    session_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`stack.py up --acme-server`: the whole stack behind a certificate Pebble issued by HTTP-01
    through the edge, by the same certbot/bootstrap.sh that deploy_ssl runs on a server."""
    base = session_tmp / "runner-acme"
    base.mkdir()
    http_port, processes = free_port(), []
    listener = make_test_ca(base / "pebble-tls", ["localhost"])
    root = base / "pebble-root.pem"
    stack = Stack(project=render(base / "project"), state_dir=base / "state")
    try:
        directory = start_pebble(base, http_port, listener, root, processes)
        monkeypatch.setenv("CERTBOT", str(CERTBOT))
        stack.run(
            "up",
            "--detach",
            "--http-port",
            str(http_port),
            "--server-name",
            DOMAIN,
            "--acme-server",
            directory,
            "--acme-ca",
            str(listener[0]),
        )
        stack.refresh()
        context = ssl.create_default_context(cafile=str(root))  # Pebble's root, nothing else
        with (
            socket.create_connection(("127.0.0.1", stack.port("nginx")), timeout=5) as sock,
            context.wrap_socket(sock, server_hostname=DOMAIN) as tls,
        ):
            assert tls.getpeercert()["subjectAltName"] == (("DNS", DOMAIN),)
            tls.sendall(
                f"GET /api/health HTTP/1.1\r\nHost: {DOMAIN}\r\nConnection: close\r\n\r\n".encode()
            )
            assert tls.recv(64).startswith(b"HTTP/1.1 200")
        # A later `up` keeps the ACME certificate without asking the server again.
        for process in processes:
            stop_process(process)
        stack.run("down")
        stack.run("up", "--detach")
        assert (
            json.loads((stack.state_dir / "run" / "stack.json").read_text())["tls"]["issuer"]
            == "acme"
        )
    finally:
        stack.run("down", check=False)
        for process in processes:
            stop_process(process)
