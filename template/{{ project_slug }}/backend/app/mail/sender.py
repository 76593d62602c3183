"""Delivery of the outbox: one mail at a time, claimed with `FOR UPDATE SKIP LOCKED` (several
mailers never send the same row), sent with smtplib, then marked sent in the transaction that
holds the lock.

At least once: the row is marked after the server accepted the mail. A mailer that dies between
the server's "250 OK" and its commit (a few milliseconds) leaves the row waiting, and the mail is
sent again later with the same Message-ID header, which lets clients and people see the two
copies as one message. Nothing is ever lost: a mail leaves the outbox only as sent, or as failed
for good (the server refused it with a 5xx, or it could not be sent for MAX_ATTEMPTS attempts),
kept with the server's answer for administrators.
"""

from __future__ import annotations

import contextlib
import logging
import smtplib
import ssl
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import parseaddr

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from app.core.config import settings
from app.mail import message
from app.models import MailStatus, OutboxMail

logger = logging.getLogger("app.mailer")

TIMEOUT_SECONDS = 30
MAX_ATTEMPTS = 20  # with the backoff below: about three hours of trying
BACKOFF_FIRST_SECONDS = 2
BACKOFF_MAX_SECONDS = 900


class PermanentError(Exception):
    """The server refused this mail for good (a 5xx answer): sending it again would not help."""


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(BACKOFF_FIRST_SECONDS * 2 ** (attempts - 1), BACKOFF_MAX_SECONDS))


def connect() -> smtplib.SMTP:
    """A connection to SMTP_HOST, encrypted as SMTP_SECURITY says and logged in if SMTP_USER."""
    context = ssl.create_default_context()
    if settings.SMTP_CA_FILE:
        context.load_verify_locations(cafile=settings.SMTP_CA_FILE)
    host, port = settings.SMTP_HOST, settings.SMTP_PORT
    if settings.SMTP_SECURITY == "tls":
        smtp: smtplib.SMTP = smtplib.SMTP_SSL(host, port, timeout=TIMEOUT_SECONDS, context=context)
    else:
        smtp = smtplib.SMTP(host, port, timeout=TIMEOUT_SECONDS)
        if settings.SMTP_SECURITY == "starttls":
            smtp.starttls(context=context)
    if settings.SMTP_USER:
        smtp.login(settings.SMTP_USER, settings.SMTP_PASSWORD)
    return smtp


def _answer(code: int, text: bytes | str) -> str:
    said = text.decode(errors="replace") if isinstance(text, bytes) else text
    return f"{code} {said}".strip()


def send(smtp: smtplib.SMTP, mail: OutboxMail) -> None:
    """Hand `mail` to the server; PermanentError when it refuses it for good."""
    built = message.build(
        recipient=mail.recipient,
        subject=mail.subject,
        text=mail.text_body,
        html_body=mail.html_body,
        message_id=mail.message_id,
    )
    envelope_from = parseaddr(settings.MAIL_FROM)[1]
    try:
        smtp.send_message(built, from_addr=envelope_from, to_addrs=[mail.recipient])
    except smtplib.SMTPRecipientsRefused as exc:
        code, text = next(iter(exc.recipients.values()))
        if code >= 500:
            raise PermanentError(_answer(code, text)) from exc
        raise
    except smtplib.SMTPDataError as exc:
        if exc.smtp_code >= 500:
            raise PermanentError(_answer(exc.smtp_code, exc.smtp_error)) from exc
        raise


def describe(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        return _answer(exc.smtp_code, exc.smtp_error)
    return f"{type(exc).__name__}: {exc}"[:1000]


class Sender:
    """Delivers what is due until `stop` is set; `beat` is called at least once a loop."""

    def __init__(self, engine: Engine, stop: threading.Event, beat: Callable[[], None]):
        self.engine, self.stop, self.beat = engine, stop, beat
        self.smtp: smtplib.SMTP | None = None

    def close(self) -> None:
        if self.smtp is not None:
            with contextlib.suppress(OSError, smtplib.SMTPException):  # gone either way
                self.smtp.quit()
            self.smtp = None

    def deliver_one(self) -> bool:
        """Send the next due mail; False when none is due or the server cannot be reached now."""
        with Session(self.engine) as session, session.begin():
            mail = session.scalars(
                select(OutboxMail)
                .where(
                    OutboxMail.status == MailStatus.WAITING,
                    OutboxMail.next_attempt_at <= datetime.now(UTC),
                )
                .order_by(OutboxMail.next_attempt_at)
                .limit(1)
                .with_for_update(skip_locked=True)
            ).first()
            if mail is None:
                return False
            try:
                if self.smtp is None:
                    self.smtp = connect()
                send(self.smtp, mail)
            except PermanentError as exc:
                mail.status, mail.last_error = MailStatus.FAILED, str(exc)
                mail.attempts += 1
                logger.warning("mail %s refused for good: %s", mail.id, exc)
                return True
            except (OSError, smtplib.SMTPException, message.BadAddressError) as exc:
                self.close()
                self._retry_later(mail, describe(exc))
                return False
            mail.status, mail.sent_at = MailStatus.SENT, datetime.now(UTC)
            mail.attempts += 1
            mail.last_error = None
            logger.info("mail %s (%s) sent", mail.id, mail.kind)
            return True

    @staticmethod
    def _retry_later(mail: OutboxMail, error: str) -> None:
        mail.attempts = n = mail.attempts + 1
        mail.last_error = error
        if mail.attempts >= MAX_ATTEMPTS:
            mail.status = MailStatus.FAILED
            logger.warning("mail %s kept as failed after %d attempts: %s", mail.id, n, error)
        else:
            mail.next_attempt_at = datetime.now(UTC) + backoff(mail.attempts)
            logger.warning("mail %s not sent (attempt %d): %s", mail.id, mail.attempts, error)

    def run(self, poll_seconds: float = 1.0) -> None:
        while not self.stop.is_set():
            self.beat()
            try:
                while not self.stop.is_set() and self.deliver_one():
                    self.beat()
            except Exception:  # the database is down, say: log it and try again next round
                logger.exception("the outbox could not be read")
            self.close()  # no idle connection kept open to the server between rounds
            self.stop.wait(poll_seconds)
