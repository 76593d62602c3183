"""A mail as the SMTP server receives it: headers built by the standard library's EmailMessage
(which folds and encodes them), a plain-text part and a simple HTML part with inline styles (the
only styles mail clients keep), the site's language in Content-Language.

Header injection: every address is checked to be one address on one line before it becomes a
header (a CR or LF in a name or an address is refused, never stripped), and the subject comes
from texts.py, never from a visitor.
"""

from __future__ import annotations

import html
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr

from app.core.config import settings
from app.mail.texts import TEXTS


class BadAddressError(ValueError):
    """Not one address on one line: it must never become a header."""


def checked_address(value: str) -> str:
    """`value` if it is exactly one plain address (local@domain) on one line."""
    if any(c in value for c in "\r\n\0") or "," in value:
        raise BadAddressError(f"{value!r}: one address on one line, without a name")
    name, address = parseaddr(value)
    if name or address != value or value.count("@") != 1:
        raise BadAddressError(f"{value!r}: one address on one line, without a name")
    local, domain = value.split("@")
    if not local or not domain:
        raise BadAddressError(f"{value!r}: an address is local@domain")
    return value


def sender_address() -> Address:
    """MAIL_FROM as a header value ("Name <site@example.com>" or "site@example.com")."""
    name, address = parseaddr(settings.MAIL_FROM)
    username, domain = checked_address(address).split("@")
    return Address(display_name=name or settings.PROJECT_NAME, username=username, domain=domain)


def new_message_id() -> str:
    domain = checked_address(parseaddr(settings.MAIL_FROM)[1]).split("@")[1]
    return make_msgid(domain=domain)


def render(kind: str, *, link: str | None = None, **values: object) -> tuple[str, str, str]:
    """(subject, text, html) of a mail of `kind` in the site's language."""
    text = TEXTS[kind][settings.UI_LANGUAGE]
    values = {"site": settings.PROJECT_NAME, **values}
    subject = text.subject.format(**values)
    paragraphs = [p.format(**values) for p in text.paragraphs]
    plain = "\n\n".join(paragraphs)
    body = "".join(
        f'<p style="margin:0 0 16px;line-height:1.5">{html.escape(p)}</p>' for p in paragraphs
    )
    if link and text.button:
        plain += f"\n\n{text.button}:\n{link}"
        body += (
            f'<p style="margin:24px 0"><a href="{html.escape(link)}" style="background:#1d4ed8;'
            "color:#ffffff;padding:12px 20px;border-radius:6px;text-decoration:none;"
            f'display:inline-block">{html.escape(text.button)}</a></p>'
            f'<p style="margin:0;color:#555;font-size:13px;word-break:break-all">'
            f"{html.escape(link)}</p>"
        )
    page = (
        f'<!DOCTYPE html><html lang="{settings.UI_LANGUAGE}"><head><meta charset="utf-8">'
        f"<title>{html.escape(subject)}</title></head>"
        '<body style="margin:0;padding:24px;background:#f4f4f5;font-family:Arial,sans-serif;'
        'color:#18181b"><div style="max-width:560px;margin:0 auto;background:#ffffff;'
        f'padding:24px;border-radius:8px">{body}</div></body></html>'
    )
    return subject, plain + "\n", page


def build(
    *, recipient: str, subject: str, text: str, html_body: str, message_id: str
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender_address()
    message["To"] = checked_address(recipient)
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = message_id
    message["Auto-Submitted"] = "auto-generated"  # no vacation replies to a robot
    message.set_content(text)
    message.add_alternative(html_body, subtype="html")
    message["Content-Language"] = settings.UI_LANGUAGE  # after the parts: set_content drops it
    return message
