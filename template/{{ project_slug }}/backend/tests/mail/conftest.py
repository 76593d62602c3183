"""The mail tests' SMTP server (aiosmtpd on loopback, plain SMTP) and mail turned on: the mail
modules get a copy of the settings with SMTP_* set (the suite's own settings have mail off)."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator

import httpx
import pytest
from aiosmtpd.controller import Controller

from app.api.routes import recovery
from app.core.config import Settings, settings
from app.mail import message, outbox, sender
from tests.conftest import PASSWORD, Member, login


class Inbox:
    def __init__(self) -> None:
        self.mails: list[tuple[list[str], bytes]] = []

    async def handle_RCPT(self, server, session, envelope, address, options):  # noqa: N802
        if address.startswith("refused"):
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        self.mails.append((list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Controller, Inbox]]:
    inbox = Inbox()
    with socket.socket() as probe:  # a free port (the controller checks that it answers there)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield controller, inbox
    finally:
        controller.stop()


@pytest.fixture
def mail_on(monkeypatch: pytest.MonkeyPatch, smtp: tuple[Controller, Inbox]) -> Settings:
    controller, _ = smtp
    port = controller.port
    on = settings.model_copy(
        update={
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": port,
            "SMTP_SECURITY": "none",
            "MAIL_FROM": "Site <noreply@example.com>",
            "SITE_URL": "https://files.example.com",
        }
    )
    for module in (outbox, message, sender, recovery):
        monkeypatch.setattr(module, "settings", on)
    return on


async def member_by_admin(client: httpx.AsyncClient, admin_headers: dict[str, str]) -> Member:
    """An account an administrator made (verified, no mail), signed in."""
    email = f"member-{uuid.uuid4().hex[:12]}@example.com"
    made = await client.post(
        "/api/users", json={"email": email, "password": PASSWORD}, headers=admin_headers
    )
    assert made.status_code == 201, made.text
    headers = await login(client, email, PASSWORD)
    return Member(email, PASSWORD, uuid.UUID(made.json()["id"]), headers)
