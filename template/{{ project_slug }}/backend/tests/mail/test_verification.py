"""Address verification (services/verification.py) and the outbox's failed mails on the
administrators' side, against the test database and a real SMTP server on loopback (aiosmtpd)."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest
from aiosmtpd.controller import Controller

from app.core.config import Settings
from app.core.messages import say
from app.models import MailStatus
from tests.conftest import PASSWORD, login
from tests.mail.conftest import Inbox, member_by_admin
from tests.mail.test_outbox import deliver_all, rows

pytestmark = pytest.mark.anyio

TOKEN = re.compile(r"token=([\w-]+)")


def new_email(prefix: str = "open") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}@example.com"


def token_in(email: str, kind: str) -> str:
    [mail] = [m for m in rows(email) if m.kind == kind][-1:]
    return TOKEN.search(mail.text_body).group(1)


async def sign_up(client: httpx.AsyncClient, email: str) -> httpx.Response:
    return await client.post("/api/auth/register", json={"email": email, "password": PASSWORD})


async def log_in(client: httpx.AsyncClient, email: str) -> httpx.Response:
    return await client.post("/api/auth/login", data={"username": email, "password": PASSWORD})


async def test_an_open_sign_up_is_usable_once_its_address_is_verified(
    client: httpx.AsyncClient, mail_on: Settings, smtp: tuple[Controller, Inbox]
) -> None:
    email = new_email()
    made = await sign_up(client, email)
    assert made.status_code == 201 and made.json()["email_verified"] is False
    refused = await log_in(client, email)
    assert refused.status_code == 403 and refused.headers["X-Error-Code"] == "email_unverified"
    assert refused.json()["detail"] == say("email_unverified", email=email)
    wrong = await client.post("/api/auth/login", data={"username": email, "password": "nope!"})
    assert wrong.status_code == 401  # the address's state is told only with the password

    deliver_all()
    [mail] = rows(email)
    assert (mail.kind, mail.status) == ("verify_email", MailStatus.SENT)
    assert "https://files.example.com/#/verify?token=" in mail.text_body
    token = token_in(email, "verify_email")
    done = await client.post("/api/auth/verify-email", json={"token": token})
    assert done.status_code == 200 and done.json() == {"email": email, "changed": False}
    assert (await log_in(client, email)).status_code == 200
    again = await client.post("/api/auth/verify-email", json={"token": token})
    assert again.status_code == 400 and again.json()["detail"] == say("verify_link_used")


async def test_a_new_link_ends_the_old_one_and_says_nothing_of_other_addresses(
    client: httpx.AsyncClient, mail_on: Settings, smtp: tuple[Controller, Inbox]
) -> None:
    email, unknown = new_email(), new_email("nobody")
    await sign_up(client, email)
    first = token_in(email, "verify_email")
    answers = [
        await client.post("/api/auth/resend-verification", json={"email": address})
        for address in (email, unknown, email)
    ]
    assert [a.status_code for a in answers] == [202, 202, 202]
    assert answers[0].content == answers[1].content == b""
    assert rows(unknown) == [] and len(rows(email)) == 2  # the third: one mail per window
    stale = await client.post("/api/auth/verify-email", json={"token": first})
    assert stale.status_code == 400
    fresh = await client.post(
        "/api/auth/verify-email", json={"token": token_in(email, "verify_email")}
    )
    assert fresh.status_code == 200
    # A verified account is sent nothing more.
    await client.post("/api/auth/resend-verification", json={"email": email})
    assert len(rows(email)) == 2


async def test_a_used_mailed_reset_link_verifies_the_address(
    client: httpx.AsyncClient, mail_on: Settings, smtp: tuple[Controller, Inbox]
) -> None:
    email = new_email()
    await sign_up(client, email)
    assert (await client.post("/api/auth/forgot-password", json={"email": email})).status_code
    token = token_in(email, "password_reset")
    new_password = "harbour velvet compass 19"
    reset = await client.post(
        "/api/auth/reset-password",
        json={"token": token, "email": email, "new_password": new_password},
    )
    assert reset.status_code == 204, reset.text
    assert (await login(client, email, new_password))["Authorization"]


async def test_a_new_address_takes_effect_once_verified_and_the_old_one_is_told(
    client: httpx.AsyncClient,
    mail_on: Settings,
    smtp: tuple[Controller, Inbox],
    admin_headers: dict[str, str],
) -> None:
    member = await member_by_admin(client, admin_headers)
    other = await member_by_admin(client, admin_headers)
    taken = await client.patch(
        "/api/users/me",
        json={"email": other.email, "current_password": PASSWORD},
        headers=member.headers,
    )
    assert taken.status_code == 409
    new = new_email("new")
    asked = await client.patch(
        "/api/users/me",
        json={"email": new, "current_password": PASSWORD, "full_name": "Ada"},
        headers=member.headers,
    )
    assert asked.status_code == 200, asked.text
    assert asked.json()["email"] == member.email and asked.json()["pending_email"] == new
    assert asked.json()["full_name"] == "Ada"  # the rest is saved at once
    me = (await client.get("/api/users/me", headers=member.headers)).json()
    assert (me["email"], me["pending_email"]) == (member.email, new)
    assert [m.kind for m in rows(new)] == ["confirm_new_email"]
    assert rows(member.email) == []
    assert (await log_in(client, new)).status_code == 401  # not yet the account's

    done = await client.post(
        "/api/auth/verify-email", json={"token": token_in(new, "confirm_new_email")}
    )
    assert done.status_code == 200 and done.json() == {"email": new, "changed": True}
    me = (await client.get("/api/users/me", headers=member.headers)).json()
    assert (me["email"], me["pending_email"]) == (new, None)
    [notice] = rows(member.email)
    assert notice.kind == "email_changed" and new in notice.text_body
    assert "token=" not in notice.text_body
    assert (await log_in(client, new)).status_code == 200
    assert (await log_in(client, member.email)).status_code == 401
    audit = (await client.get("/api/audit", headers=admin_headers)).json()["items"]
    assert audit[0]["action"] == "change_email" and audit[0]["target_email"] == new
    assert audit[1]["action"] == "change_email_asked" and audit[1]["detail"] == new


async def test_without_mail_nothing_waits_for_a_verification(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    email = new_email()
    made = await sign_up(client, email)
    assert made.json()["email_verified"] is True
    assert (await log_in(client, email)).status_code == 200
    resend = await client.post("/api/auth/resend-verification", json={"email": email})
    assert resend.status_code == 404 and resend.json()["detail"] == say("mail_off")
    unknown = await client.post("/api/auth/verify-email", json={"token": "x" * 43})
    assert unknown.status_code == 400 and unknown.json()["detail"] == say("link_unknown")
    outbox = (await client.get("/api/outbox", headers=admin_headers)).json()
    assert outbox["mail"] is False


async def test_a_failed_mail_is_shown_to_administrators_and_can_be_sent_again(
    client: httpx.AsyncClient,
    mail_on: Settings,
    smtp: tuple[Controller, Inbox],
    admin_headers: dict[str, str],
) -> None:
    refused = f"refused-{uuid.uuid4().hex[:8]}@example.com"
    await client.post("/api/invitations", json={"email": refused}, headers=admin_headers)
    deliver_all()
    outbox = (await client.get("/api/outbox", headers=admin_headers)).json()
    assert outbox["mail"] is True and outbox["failed"] >= 1 and outbox["waiting"] >= 0
    shown = outbox["failed_mails"][0]
    assert shown["recipient"] == refused and shown["last_error"] == "550 5.1.1 no such mailbox"
    assert shown["kind"] == "invitation" and shown["attempts"] == 1
    assert "text_body" not in shown  # a body may hold a one-time link

    member = await member_by_admin(client, admin_headers)
    assert (await client.get("/api/outbox", headers=member.headers)).status_code == 403
    retry = f"/api/outbox/{shown['id']}/retry"
    assert (await client.post(retry, headers=member.headers)).status_code == 403
    assert (await client.post(retry, headers=admin_headers)).status_code == 204
    [mail] = rows(refused)
    assert (mail.status, mail.attempts) == (MailStatus.WAITING, 0)
    again = await client.post(retry, headers=admin_headers)
    assert again.status_code == 409 and again.json()["detail"] == say("mail_not_failed")
    missing = await client.post(f"/api/outbox/{uuid.uuid4()}/retry", headers=admin_headers)
    assert missing.status_code == 404
    audit = (await client.get("/api/audit", headers=admin_headers)).json()["items"]
    assert audit[0]["action"] == "mail_retry" and audit[0]["target_email"] == refused
    deliver_all()  # refused again: failed again, with the answer
    [mail] = rows(refused)
    assert (mail.status, mail.attempts) == (MailStatus.FAILED, 1)
