"""The outbox and its sender against the test database and a real SMTP server on loopback
(aiosmtpd, plain SMTP: the mail layer of the template's tests covers STARTTLS and AUTH).
Mail is off in this suite's settings; the tests that need it on give the mail modules a copy of
the settings with SMTP_* set."""

from __future__ import annotations

import threading
import uuid

import httpx
import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from app.core.config import Settings, settings
from app.mail import message, sender
from app.models import MailStatus, OutboxMail
from tests.conftest import Member
from tests.mail.conftest import Inbox, member_by_admin

pytestmark = pytest.mark.anyio


def rows(email: str) -> list[OutboxMail]:
    engine = create_engine(settings.database_url)
    with Session(engine) as session:
        found = list(session.scalars(select(OutboxMail).where(OutboxMail.recipient == email)))
    engine.dispose()
    return found


def deliver_all() -> None:
    engine = create_engine(settings.database_url)
    worker = sender.Sender(engine, threading.Event(), lambda: None)
    while worker.deliver_one():
        pass
    worker.close()
    engine.dispose()


@pytest.mark.parametrize(
    "address",
    ["a@example.com\r\nBcc: b@example.com", "a@example.com, b@example.com", "A <a@example.com>"],
)
def test_an_address_that_could_add_a_header_is_refused(address: str) -> None:
    with pytest.raises(message.BadAddressError):
        message.checked_address(address)


def test_mail_from_on_two_lines_is_refused() -> None:
    with pytest.raises(ValueError, match="one line"):
        settings.model_validate({**settings.model_dump(), "MAIL_FROM": "a@example.com\nBcc: x"})


async def test_without_smtp_settings_there_is_no_forgot_password_and_no_mail(
    client: httpx.AsyncClient, user: Member, admin_headers: dict[str, str]
) -> None:
    assert (await client.get("/api/auth/registration")).json()["mail"] is False
    answer = await client.post("/api/auth/forgot-password", json={"email": user.email})
    assert answer.status_code == 404
    invited = f"invited-{uuid.uuid4().hex[:8]}@example.com"
    made = await client.post("/api/invitations", json={"email": invited}, headers=admin_headers)
    assert made.status_code == 201
    assert rows(user.email) == [] and rows(invited) == []


async def test_one_mail_per_address_and_window_and_none_for_unknown_addresses(
    client: httpx.AsyncClient,
    mail_on: Settings,
    smtp: tuple[Controller, Inbox],
    admin_headers: dict[str, str],
) -> None:
    member = await member_by_admin(client, admin_headers)
    unknown = f"nobody-{uuid.uuid4().hex[:8]}@example.com"
    for address in (member.email, member.email, member.email, unknown):
        answer = await client.post("/api/auth/forgot-password", json={"email": address})
        assert answer.status_code == 202
    assert [m.status for m in rows(member.email)] == [MailStatus.WAITING] and rows(unknown) == []
    deliver_all()
    [mail] = rows(member.email)
    assert mail.status == MailStatus.SENT and mail.attempts == 1
    recipients, content = smtp[1].mails[-1]
    assert recipients == [member.email]
    assert b"https://files.example.com/#/reset?token=" in content
    assert f"Message-ID: {mail.message_id}".encode() in content
    deliver_all()  # nothing left: sent once
    assert len([m for m in smtp[1].mails if m[0] == [member.email]]) == 1


async def test_a_refused_mail_is_kept_as_failed_and_an_unreachable_server_means_later(
    client: httpx.AsyncClient,
    mail_on: Settings,
    admin_headers: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    refused = f"refused-{uuid.uuid4().hex[:8]}@example.com"
    await client.post("/api/invitations", json={"email": refused}, headers=admin_headers)
    deliver_all()
    [mail] = rows(refused)
    assert (mail.status, mail.last_error) == (MailStatus.FAILED, "550 5.1.1 no such mailbox")
    later = f"later-{uuid.uuid4().hex[:8]}@example.com"
    await client.post("/api/invitations", json={"email": later}, headers=admin_headers)
    monkeypatch.setattr(sender, "settings", mail_on.model_copy(update={"SMTP_PORT": 1}))
    deliver_all()
    [waiting] = rows(later)
    assert waiting.status == MailStatus.WAITING and waiting.attempts == 1
    assert waiting.next_attempt_at > waiting.created_at and waiting.last_error
