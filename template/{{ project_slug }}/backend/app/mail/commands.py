"""The operator's mail commands (python -m app.manage send-test-mail | outbox-status)."""

from __future__ import annotations

import smtplib

from sqlalchemy import Connection, func, select

from app.core.config import settings
from app.mail import message, sender
from app.models import MailStatus, OutboxMail


def send_test_mail(address: str) -> str:
    """Send one mail now, straight through SMTP (not the outbox), so a wrong setting shows at once
    with the server's own answer."""
    if not settings.mail_enabled:
        raise SystemExit(
            "Mail is off: set SMTP_HOST and MAIL_FROM in settings.site.env (and SMTP_PASSWORD in "
            ".env if the server wants a log-in), then restart the stack."
        )
    try:
        recipient = message.checked_address(address)
    except message.BadAddressError as exc:
        raise SystemExit(f"Not sent: {exc}.") from None
    subject, plain, page = message.render("test", email=recipient)
    mail = OutboxMail(
        recipient=recipient,
        subject=subject,
        text_body=plain,
        html_body=page,
        message_id=message.new_message_id(),
    )
    where = f"{settings.SMTP_HOST}:{settings.SMTP_PORT} ({settings.SMTP_SECURITY})"
    try:
        smtp = sender.connect()
        try:
            sender.send(smtp, mail)
        finally:
            smtp.quit()
    except (OSError, smtplib.SMTPException, sender.PermanentError) as exc:
        raise SystemExit(
            f"Not sent through {where}: {sender.describe(exc)}. Check SMTP_HOST, SMTP_PORT, "
            "SMTP_SECURITY, SMTP_USER (settings) and SMTP_PASSWORD (.env)."
        ) from None
    return f"Test mail sent to {recipient} through {where}."


def outbox_status(connection: Connection) -> str:
    """One line for `status`: mails waiting and failed for good."""
    rows = connection.execute(
        select(OutboxMail.status, func.count()).group_by(OutboxMail.status)
    ).all()
    counts = {status: count for status, count in rows}
    waiting, failed = counts.get(MailStatus.WAITING, 0), counts.get(MailStatus.FAILED, 0)
    state = "on" if settings.mail_enabled else "off (no SMTP settings)"
    line = f"mail {state}: {waiting} waiting, {failed} failed"
    if failed:
        line += " (the users page lists them with the server's answer; each can be sent again)"
    return line
