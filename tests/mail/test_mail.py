"""Outgoing mail end to end: the stack (native runner: PostgreSQL, backend, mailer, edge nginx
over TLS) sends through a real SMTP server on loopback (aiosmtpd, STARTTLS and AUTH required, a
certificate of its own that the mailer trusts through SMTP_CA_FILE). Every request goes through
the edge as a browser's would; what is checked is what the recipient gets (envelope, headers,
both parts, the link) and what the API answers. No stand-in.
"""

from __future__ import annotations

import os
import re
import signal
import time
import uuid

import httpx
import pytest
from support.api import admin_headers, bearer, edge_client, login, sql
from support.processes import pid_alive
from support.project import Stack
from support.smtp import REFUSED_PREFIX, USER, Received, SmtpServer
from support.waiting import wait_for

pytestmark = [pytest.mark.mail, pytest.mark.timeout(900), pytest.mark.usefixtures("fresh_throttle")]

LINK = re.compile(r"https://\S+")


PASSWORD = "correct horse battery"


def member(client: httpx.Client, stack: Stack, prefix: str) -> dict[str, object]:
    """An account an administrator made (its address vouched for: no verification mail), signed
    in; open sign-ups are verified by mail first (test_an_open_sign_up_...)."""
    email = f"{prefix}.{uuid.uuid4().hex[:10]}@example.com"
    made = client.post(
        "/api/users",
        json={"email": email, "password": PASSWORD},
        headers=admin_headers(client, stack),
    )
    assert made.status_code == 201, made.text
    token = login(client, email, PASSWORD)
    return {"email": email, "id": made.json()["id"], "headers": bearer(token)}


def one_mail(server: SmtpServer, address: str, timeout: float = 20) -> Received:
    wait_for(lambda: server.to(address), timeout, interval=0.2, what=f"a mail to {address}")
    return server.to(address)[0]


def forgot(client: httpx.Client, address: str) -> httpx.Response:
    return client.post("/api/auth/forgot-password", json={"email": address})


def link_in(mail: Received) -> str:
    text = mail.message.get_body(("plain",)).get_content()
    found = LINK.findall(text)
    assert len(found) == 1, text
    return found[0]


def outbox(stack: Stack, address: str) -> list[str]:
    """status|attempts|last_error of the address's mails, oldest first."""
    cols = "status || '|' || attempts || '|' || coalesce(last_error, '')"
    order = "ORDER BY created_at"
    q = f"SELECT {cols} FROM mail_outbox WHERE recipient = '{address}' {order}"  # noqa: S608
    return sql(stack, q).splitlines()


def attempts_of(stack: Stack, address: str) -> int:
    rows = outbox(stack, address)
    return int(rows[0].split("|")[1]) if rows else 0


def test_reset_mail_reaches_the_account_in_the_site_language_with_both_parts(
    mail_stack: Stack, smtp_server: SmtpServer
):
    with edge_client(mail_stack) as client:
        account = member(client, mail_stack, "reset")
        assert forgot(client, account["email"]).status_code == 202
    mail = one_mail(smtp_server, account["email"])
    message = mail.message
    assert mail.recipients == [account["email"]] and mail.sender == "noreply@example.com"
    assert mail.tls and mail.login == USER  # STARTTLS then AUTH, as the server demands
    assert message["To"] == account["email"] and "noreply@example.com" in message["From"]
    assert message["Subject"] == "Closo : choisissez un nouveau mot de passe"
    assert message["Content-Language"] == "fr" and message["Message-ID"].endswith("@example.com>")
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "30 minutes" in text and account["email"] in text
    link = link_in(mail)
    assert link.startswith(f"{mail_stack.url}/#/reset?token=")
    assert f'href="{link}"' in html and '<html lang="fr">' in html


def test_an_unknown_address_gets_the_same_answer_and_no_mail(
    mail_stack: Stack, smtp_server: SmtpServer
):
    with edge_client(mail_stack) as client:
        known = member(client, mail_stack, "known")
        unknown = f"nobody.{known['email']}"
        answers = [forgot(client, a) for a in (known["email"], unknown)]
    assert [a.status_code for a in answers] == [202, 202]
    assert answers[0].content == answers[1].content == b""
    one_mail(smtp_server, known["email"])
    assert outbox(mail_stack, unknown) == [] and smtp_server.to(unknown) == []


def test_a_flood_of_requests_for_one_address_sends_one_mail(
    mail_stack: Stack, smtp_server: SmtpServer
):
    with edge_client(mail_stack) as client:
        account = member(client, mail_stack, "flood")
        answers = [forgot(client, account["email"]).status_code for _ in range(5)]
        # The sixth request of this client in the window: refused, which says nothing of accounts.
        sixth = forgot(client, f"other.{account['email']}")
    assert answers == [202] * 5
    assert sixth.status_code == 429 and sixth.headers["Retry-After"] == "300"
    one_mail(smtp_server, account["email"])
    time.sleep(2)  # what a second mail would need to arrive
    assert len(smtp_server.to(account["email"])) == 1
    assert len(outbox(mail_stack, account["email"])) == 1


def test_the_link_sets_a_new_password_and_ends_the_old_sessions(
    mail_stack: Stack, smtp_server: SmtpServer
):
    with edge_client(mail_stack) as client, edge_client(mail_stack) as old_browser:
        account = member(old_browser, mail_stack, "sessions")
        forgot(client, account["email"])
        token = link_in(one_mail(smtp_server, account["email"])).rsplit("token=", 1)[1]
        new = "river copper lantern 52"
        done = client.post(
            "/api/auth/reset-password",
            json={"token": token, "email": account["email"], "new_password": new},
        )
        assert done.status_code == 204, done.text
        assert old_browser.post("/api/auth/refresh").status_code == 401
        again = client.post(
            "/api/auth/reset-password",
            json={"token": token, "email": account["email"], "new_password": new + "x"},
        )
        assert again.status_code == 400
        assert (
            client.post(
                "/api/auth/login", data={"username": account["email"], "password": new}
            ).status_code
            == 200
        )
    # The account is told its password changed (a second mail, without a link).
    wait_for(lambda: len(smtp_server.to(account["email"])) == 2, 20, what="the notice")
    notice = smtp_server.to(account["email"])[1].message
    assert notice["Subject"] == "Closo : votre mot de passe a changé"
    assert not LINK.search(notice.get_body(("plain",)).get_content())


def test_mail_waits_while_the_server_is_down_and_is_delivered_once_across_a_mailer_restart(
    mail_stack: Stack, smtp_server: SmtpServer
):
    with edge_client(mail_stack) as client:
        account = member(client, mail_stack, "down")
        smtp_server.stop()
        try:
            started = time.monotonic()
            assert forgot(client, account["email"]).status_code == 202
            assert time.monotonic() - started < 2  # the request never waits for SMTP
            wait_for(lambda: attempts_of(mail_stack, account["email"]), 15, what="an attempt")
            status, _, error = outbox(mail_stack, account["email"])[0].split("|", 2)
            assert status == "waiting" and "Connection refused" in error
            # The mailer is stopped (SIGTERM: it finishes cleanly) and started again.
            mail_stack.refresh()
            pid = mail_stack.status["services"]["mailer"]["pid"]
            os.kill(pid, signal.SIGTERM)
            wait_for(lambda: not pid_alive(pid), 15, what="the mailer stopped on SIGTERM")
            assert "mailer stopped" in mail_stack.log("mailer")
            mail_stack.up()
        finally:
            smtp_server.start()
    one_mail(smtp_server, account["email"], timeout=40)
    time.sleep(2)
    assert len(smtp_server.to(account["email"])) == 1
    assert outbox(mail_stack, account["email"])[0].startswith("sent|")


def test_an_invitation_is_mailed_and_a_refused_one_is_kept_as_failed_with_the_answer(
    mail_stack: Stack, smtp_server: SmtpServer
):
    with edge_client(mail_stack) as client:
        admin = admin_headers(client, mail_stack)
        good = f"invited.{time.time_ns()}@example.com"
        refused = f"{REFUSED_PREFIX}{time.time_ns()}@example.com"
        issued = client.post("/api/invitations", json={"email": good}, headers=admin)
        assert issued.status_code == 201, issued.text  # the admin still gets the link
        assert (
            client.post("/api/invitations", json={"email": refused}, headers=admin).status_code
            == 201
        )
    mail = one_mail(smtp_server, good)
    assert mail.message["Subject"] == "Closo : vous êtes invité(e)"
    assert link_in(mail) == f"{mail_stack.url}{issued.json()['path']}"
    wait_for(lambda: "|".join(outbox(mail_stack, refused)).startswith("failed|"), 20, what="failed")
    status, attempts, error = outbox(mail_stack, refused)[0].split("|", 2)
    assert attempts == "1" and error == f"550 5.1.1 <{refused}>: no such mailbox here"
    # Administrators see it with the answer (the page: test_mail_browser.py), `status` counts it.
    with edge_client(mail_stack) as client:
        shown = client.get("/api/outbox", headers=admin_headers(client, mail_stack)).json()
    assert [m["last_error"] for m in shown["failed_mails"] if m["recipient"] == refused] == [error]
    counted = mail_stack.run("manage", "outbox-status").stdout
    assert re.search(r"^mail on: \d+ waiting, [1-9]\d* failed \(the users page lists them", counted)


@pytest.mark.parametrize(
    "address",
    [
        "victim@example.com\r\nBcc: everyone@example.org",
        "victim@example.com\nSubject: free money",
        "victim@example.com, other@example.org",
        "Victim <victim@example.com>",
    ],
)
def test_header_injection_through_the_address_is_refused(
    mail_stack: Stack, smtp_server: SmtpServer, address: str
):
    with edge_client(mail_stack) as client:
        admin = admin_headers(client, mail_stack)
        answers = [
            forgot(client, address),
            client.post("/api/invitations", json={"email": address}, headers=admin),
        ]
    assert [a.status_code for a in answers] == [422, 422], [a.text for a in answers]
    assert not [m for m in smtp_server.handler.received() if "everyone@example.org" in m.recipients]
    assert (
        sql(mail_stack, "SELECT count(*) FROM mail_outbox WHERE recipient LIKE '%victim%'") == "0"
    )


def test_an_open_sign_up_can_sign_in_once_its_address_is_verified_by_mail(
    mail_stack: Stack, smtp_server: SmtpServer
):
    email = f"open.{time.time_ns()}@example.com"
    with edge_client(mail_stack) as client:
        made = client.post("/api/auth/register", json={"email": email, "password": PASSWORD})
        assert made.status_code == 201 and made.json()["email_verified"] is False
        refused = client.post("/api/auth/login", data={"username": email, "password": PASSWORD})
        assert refused.status_code == 403 and refused.headers["X-Error-Code"] == "email_unverified"
        assert email in refused.json()["detail"] and "nouveau lien" in refused.json()["detail"]
        mail = one_mail(smtp_server, email)
        assert mail.message["Subject"] == "Closo : confirmez votre adresse"
        html = mail.message.get_body(("html",)).get_content()
        link = link_in(mail)
        assert link.startswith(f"{mail_stack.url}/#/verify?token=") and f'href="{link}"' in html
        token = link.rsplit("token=", 1)[1]
        done = client.post("/api/auth/verify-email", json={"token": token})
        assert done.status_code == 200 and done.json() == {"email": email, "changed": False}
        assert login(client, email, PASSWORD)
        again = client.post("/api/auth/verify-email", json={"token": token})
        assert again.status_code == 400


def test_a_new_address_takes_effect_once_verified_and_the_old_one_gets_a_notice(
    mail_stack: Stack, smtp_server: SmtpServer
):
    new = f"moved.{time.time_ns()}@example.com"
    with edge_client(mail_stack) as client:
        account = member(client, mail_stack, "mover")
        asked = client.patch(
            "/api/users/me",
            json={"email": new, "current_password": PASSWORD},
            headers=account["headers"],
        )
        assert asked.status_code == 200, asked.text
        assert (asked.json()["email"], asked.json()["pending_email"]) == (account["email"], new)
        mail = one_mail(smtp_server, new)
        assert mail.message["Subject"] == "Closo : confirmez votre nouvelle adresse"
        assert account["email"] in mail.message.get_body(("plain",)).get_content()
        assert smtp_server.to(account["email"]) == []  # nothing changed yet: nothing to tell
        token = link_in(mail).rsplit("token=", 1)[1]
        done = client.post("/api/auth/verify-email", json={"token": token})
        assert done.status_code == 200 and done.json() == {"email": new, "changed": True}
        assert login(client, new, PASSWORD)
    notice = one_mail(smtp_server, account["email"]).message
    assert notice["Subject"] == "Closo : votre adresse e-mail a changé"
    text = notice.get_body(("plain",)).get_content()
    assert new in text and not LINK.search(text)
