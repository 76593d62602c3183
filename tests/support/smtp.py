"""A real SMTP server on loopback for the mail tests: aiosmtpd with STARTTLS and AUTH required
(a self-signed certificate made with openssl for 127.0.0.1, which the stack's mailer is told to
trust through SMTP_CA_FILE). It keeps every mail it accepts; a test can stop and start it again
on the same port (the server down), slow it down, or have it refuse addresses for good (550).
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import subprocess
import threading
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from support.ports import free_port

USER, PASSWORD = "mailer", "smtp password for the tests"
REFUSED_PREFIX = "refused."  # recipients whose name starts so get a 550


@dataclass
class Received:
    sender: str
    recipients: list[str]
    message: EmailMessage
    tls: bool
    login: str | None


@dataclass
class Handler:
    delay: float = 0.0
    mails: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Refused addresses the server accepts from now on (the mailbox was made, say).
    forgiven: set[str] = field(default_factory=set)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        if address.startswith(REFUSED_PREFIX) and address not in self.forgiven:
            return f"550 5.1.1 <{address}>: no such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        if self.delay:
            await asyncio.sleep(self.delay)
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        login = session.auth_data.login.decode() if session.auth_data else None
        with self.lock:
            self.mails.append(
                Received(
                    envelope.mail_from,
                    list(envelope.rcpt_tos),
                    parsed,
                    session.ssl is not None,
                    login,
                )
            )
        return "250 2.0.0 accepted"

    def received(self) -> list[Received]:
        with self.lock:
            return list(self.mails)


def _authenticate(server, session, envelope, mechanism, auth_data) -> AuthResult:
    good = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == USER.encode()
        and auth_data.password == PASSWORD.encode()
    )
    return AuthResult(success=good, auth_data=auth_data)


def make_certificate(folder: Path) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    cert, key = folder / "smtp.crt", folder / "smtp.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    cert.chmod(0o644)
    return cert, key


class SmtpServer:
    """The server; `start()`/`stop()` any number of times, always on `port`."""

    def __init__(self, folder: Path):
        import ssl

        self.cert, key = make_certificate(folder)
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.load_cert_chain(self.cert, key)
        self.port = free_port()
        self.handler = Handler()
        self.controller: Controller | None = None

    def start(self) -> None:
        self.controller = Controller(
            self.handler,
            hostname="127.0.0.1",
            port=self.port,
            tls_context=self.context,
            require_starttls=True,
            auth_required=True,
            auth_require_tls=True,
            authenticator=_authenticate,
        )
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def settings(self) -> dict[str, str]:
        """What settings.env says to send through this server."""
        return {
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(self.port),
            "SMTP_SECURITY": "starttls",
            "SMTP_USER": USER,
            "MAIL_FROM": "Closo <noreply@example.com>",
            "SMTP_CA_FILE": str(self.cert),
        }

    def to(self, address: str) -> list[Received]:
        return [m for m in self.handler.received() if address in m.recipients]
