"""The mail commands (python -m app.manage send-test-mail | outbox-status) and the mailer's
health check, against the test database and a real SMTP server on loopback (aiosmtpd)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy.ext.asyncio import AsyncSession

from app import mailer, manage
from app.core.config import Settings
from app.mail import commands, outbox
from app.models import MailStatus
from tests.mail.conftest import Inbox

pytestmark = pytest.mark.anyio


def test_send_test_mail_says_how_to_turn_mail_on_when_it_is_off() -> None:
    with pytest.raises(SystemExit, match="Mail is off: set SMTP_HOST and MAIL_FROM"):
        manage.main(["send-test-mail", "ops@example.com"])


def test_send_test_mail_sends_at_once_or_says_why_not(
    mail_on: Settings,
    smtp: tuple[Controller, Inbox],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(commands, "settings", mail_on)
    assert manage.main(["send-test-mail", "ops@example.com"]) == 0
    assert "Test mail sent to ops@example.com through 127.0.0.1" in capsys.readouterr().out
    assert smtp[1].mails[-1][0] == ["ops@example.com"]
    with pytest.raises(SystemExit, match="Not sent through .*550 5.1.1 no such mailbox"):
        manage.main(["send-test-mail", "refused@example.com"])
    with pytest.raises(SystemExit, match="one address on one line"):
        manage.main(["send-test-mail", "a@example.com\nBcc: b@example.com"])


async def test_outbox_status_counts_waiting_and_failed(
    mail_on: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    from app.core.db import SessionFactory

    session: AsyncSession
    async with SessionFactory() as session:
        before = await outbox.counts(session)
        mail = outbox.enqueue(session, kind="test", recipient="count@example.com")
        assert mail is not None
        await session.commit()
        after = await outbox.counts(session)
    assert after[MailStatus.WAITING.value] == before[MailStatus.WAITING.value] + 1
    assert manage.main(["outbox-status"]) == 0
    assert f"{after['waiting']} waiting, {after['failed']} failed" in capsys.readouterr().out


def test_the_mailer_is_alive_only_while_it_beats(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(mailer, "HEARTBEAT", tmp_path / "beat")
    assert mailer.main(["--check"]) == 1
    mailer.beat()
    assert mailer.main(["--check"]) == 0
    old = time.time() - mailer.STALE_SECONDS - 1
    os.utime(tmp_path / "beat", (old, old))
    assert mailer.check() == 1
