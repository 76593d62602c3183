"""Mails are rows of mail_outbox, added to the caller's session: they are committed with the
change that causes them (a reset link and its mail, both or neither) and sent afterwards by the
mailer process (sender.py), so a request never waits for an SMTP server, and a server that is down
loses nothing."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import settings
from app.mail import message
from app.models import MailStatus, OutboxMail


def enabled() -> bool:
    """Whether the site sends mail (SMTP_HOST and MAIL_FROM set)."""
    return settings.mail_enabled


def enqueue(
    session: AsyncSession, *, kind: str, recipient: str, link: str | None = None, **values: object
) -> OutboxMail | None:
    """Add a mail of `kind` (texts.py) for `recipient` to the session; None when mail is off.
    `link` is a path of the site ("/#/reset?token=…"): the mail carries it absolute."""
    if not settings.mail_enabled:
        return None
    address = message.checked_address(recipient)
    absolute = f"{settings.site_url}{link}" if link else None
    subject, plain, page = message.render(kind, link=absolute, email=address, **values)
    mail = OutboxMail(
        message_id=message.new_message_id(),
        kind=kind,
        recipient=address,
        subject=subject,
        text_body=plain,
        html_body=page,
        status=MailStatus.WAITING,
        attempts=0,
    )
    session.add(mail)
    return mail


# One mail per address and window: the first request of a window is the one that mails (a
# flood of requests for one address sends one mail), per client a few more.
_ALLOW = text(
    """
    INSERT INTO auth_throttle AS t (key, failures, window_started_at, blocked_until)
    VALUES (:key, 1, now(), NULL)
    ON CONFLICT (key) DO UPDATE SET
        failures = CASE WHEN t.window_started_at < now() - :window THEN 1 ELSE t.failures + 1 END,
        window_started_at = CASE WHEN t.window_started_at < now() - :window
                                 THEN now() ELSE t.window_started_at END
    RETURNING failures
    """
)


async def allowed(session: AsyncSession, *, key: str, per_window: int, window: timedelta) -> bool:
    """Whether `key` may cause one more mail in this window (counted in the caller's
    transaction, in the log-in throttle's table)."""
    count = await session.scalar(_ALLOW, {"key": key, "window": window})
    return (count or 0) <= per_window


async def counts(session: AsyncSession) -> dict[str, int]:
    """How many mails wait and how many failed for good (status, manage's outbox-status)."""
    rows = await session.execute(
        select(OutboxMail.status, func.count()).group_by(OutboxMail.status)
    )
    found = {status.value: count for status, count in rows.all()}
    return {s.value: found.get(s.value, 0) for s in MailStatus}
