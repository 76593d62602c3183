"""compose's `certbot`, natively: the edge's certificate. Self-signed by default; with an ACME
server (`up --acme-server`), obtained once by HTTP-01 through the running edge with the same
certbot/bootstrap.sh the server runs (the renewal loop runs only in Docker)."""

from __future__ import annotations

import os
import shutil
import signal
import ssl
import subprocess
from pathlib import Path

from .config import Project
from .errors import StackError
from .probes import served_certificate
from .processes import child_pids, pid_alive, wait_until
from .state import State


class Certificates:
    def __init__(self, project: Project, state: State, acme: dict[str, str] | None):
        self.project, self.state, self.acme = project, state, acme
        self.tls_dir = state.path("tls")

    def ensure(self) -> None:
        """An ACME certificate when asked (or obtained before), else a self-signed one; the
        paths go to the state (tls: certificate, key, issuer) for the edge's configuration."""
        previous = self.state.data.get("tls", {})
        if self.acme or (
            previous.get("issuer") == "acme" and Path(previous.get("certificate", "")).is_file()
        ):
            acme_dir = self.tls_dir / "acme"
            self.save(acme_dir / "fullchain.pem", acme_dir / "privkey.pem", "acme")
            if self.acme:  # nginx needs a certificate to start and answer the HTTP-01 challenge
                self.run_bootstrap("placeholder")
            return
        cert, key = self.tls_dir / "selfsigned.crt", self.tls_dir / "selfsigned.key"
        stamp = self.tls_dir / "selfsigned.names"
        server_name = self.state.server_name
        made_for = stamp.read_text() if stamp.is_file() else None  # the name it was made for
        if not (cert.is_file() and key.is_file() and made_for == server_name):
            self.self_sign(cert, key, server_name)
            stamp.write_text(server_name)
        self.save(cert, key, "self-signed")

    def save(self, certificate: Path, key: Path, issuer: str) -> None:
        self.state.data["tls"] = {
            "certificate": str(certificate),
            "key": str(key),
            "issuer": issuer,
        }
        self.state.save()

    def self_sign(self, cert: Path, key: Path, server_name: str) -> None:
        if not shutil.which("openssl"):
            raise StackError(
                "openssl not found: install it (Debian/Ubuntu: `sudo apt-get install openssl`)."
            )
        self.tls_dir.mkdir(parents=True, exist_ok=True)
        names = f"DNS:{server_name},DNS:localhost,IP:127.0.0.1"
        command = ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt"]
        command += ["ec_paramgen_curve:P-256", "-nodes", "-days", "365", "-subj"]
        command += [f"/CN={server_name}", "-addext", f"subjectAltName={names}"]
        subprocess.run(
            [*command, "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True
        )
        key.chmod(0o600)

    def certbot_env(self) -> dict[str, str]:
        assert self.acme is not None
        certbot = os.environ.get("CERTBOT") or shutil.which("certbot")
        if not certbot:
            raise StackError(
                "certbot not found: install it (`pip install certbot` or `sudo apt-get install "
                "certbot`) or set CERTBOT to its path."
            )
        letsencrypt, tls = self.state.path("letsencrypt"), self.state.data["tls"]
        env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ}
        env.update(self.project.settings)
        env.update(
            {
                "DOMAIN": self.state.server_name,
                "DOMAIN_ALIASES": "",
                "ACME_SERVER": self.acme["server"],
                "ACME_WEBROOT": str(self.state.path("acme-webroot")),
                "TLS_CERTIFICATE": tls["certificate"],
                "TLS_CERTIFICATE_KEY": tls["key"],
                "CERTBOT": certbot,
                "CERTBOT_CONFIG_DIR": str(letsencrypt / "config"),
                "CERTBOT_WORK_DIR": str(letsencrypt / "work"),
                "CERTBOT_LOGS_DIR": str(letsencrypt / "logs"),
            }
        )
        if self.acme.get("ca"):
            env["REQUESTS_CA_BUNDLE"] = self.acme["ca"]
        return env

    def run_bootstrap(self, action: str) -> None:
        """certbot/bootstrap.sh: the same first-certificate steps as deploy_ssl on a server."""
        script = self.project.services_dir / "certbot" / "bootstrap.sh"
        result = subprocess.run(
            ["sh", str(script), action], env=self.certbot_env(), capture_output=True, text=True
        )
        if result.returncode != 0:
            raise StackError(f"certbot ({action}) failed:\n{result.stderr.strip()[-3000:]}")

    def obtain(self) -> None:
        """With the edge answering HTTP-01 on the placeholder: get the certificate, reload nginx."""
        self.run_bootstrap("obtain")
        certificate = Path(self.state.data["tls"]["certificate"]).read_text()
        expected = ssl.PEM_cert_to_DER_cert(
            certificate.split("-----END CERTIFICATE-----")[0] + "-----END CERTIFICATE-----\n"
        )
        master = self.state.pids["nginx"]
        # Until the workers of the old configuration have exited, they may still answer with
        # the placeholder: wait for them to go, then for the new certificate.
        old_workers = child_pids(master)
        os.kill(master, signal.SIGHUP)
        wait_until(
            lambda: (
                not any(pid_alive(pid) for pid in old_workers)
                and served_certificate(self.state.ports["https"], self.state.server_name)
                == expected
            ),
            "nginx (reload with the ACME certificate)",
            self.state.path("nginx", "logs", "error.log"),
        )
