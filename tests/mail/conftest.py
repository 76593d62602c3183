"""The mail layer's fixtures: one real SMTP server (aiosmtpd, STARTTLS and AUTH required) and one
stack booted by the native runner that sends through it (tests/support/smtp.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support.api import sql
from support.project import Stack, boot_stack
from support.smtp import PASSWORD, SmtpServer


@pytest.fixture(scope="session")
def smtp_server(session_tmp: Path) -> Iterator[SmtpServer]:
    server = SmtpServer(session_tmp / "mail-smtp")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def mail_stack(session_tmp: Path, smtp_server: SmtpServer) -> Iterator[Stack]:
    """Open registration, mail through the test's SMTP server; the edge's per-address limit
    raised (every request comes from 127.0.0.1)."""
    stack = boot_stack(
        session_tmp / "mail-stack",
        settings={**smtp_server.settings(), "AUTH_RATE_PER_MINUTE": "600"},
        secrets={"SMTP_PASSWORD": PASSWORD},
    )
    try:
        yield stack
    finally:
        stack.down()


@pytest.fixture
def fresh_throttle(mail_stack: Stack) -> None:
    """Each test starts with the "forgot password" and "new verification link" windows empty
    (every request here comes from one client address, which the per-client limit would otherwise
    count across tests)."""
    sql(mail_stack, "DELETE FROM auth_throttle WHERE key LIKE 'forgot%' OR key LIKE 'verify%'")
