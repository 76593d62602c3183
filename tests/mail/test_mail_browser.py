"""Mail in a real browser: Debian's Chromium (Playwright) against the mail layer's stack (native
runner, edge nginx over HTTPS), the mails received by the real SMTP server on loopback (aiosmtpd,
STARTTLS and AUTH). No stand-in.

- "Forgot password": from the sign-in page's link to the mail's link, a new password, signed in;
  the browser that was signed in before is signed out.
- An open sign-up: the page says to check the mail; signing in before is refused with a way to
  get a new link; the mail's link confirms the address; then signed in.
- A refused mail: shown to the administrator with the server's answer, sent again from the page.
"""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect
from support.api import sql
from support.browser import PASSWORD, Site, make_site, screenshot, sign_in, unique_email
from support.project import Stack
from support.smtp import REFUSED_PREFIX, SmtpServer
from support.waiting import wait_for

pytestmark = [pytest.mark.mail, pytest.mark.timeout(900), pytest.mark.usefixtures("fresh_throttle")]

NEW_PASSWORD = "meadow quartz lantern 73"


def admin_headers(site: Site, api) -> dict[str, str]:
    env = site.stack.env
    answer = api.post(
        "/api/auth/login",
        data={"username": env["FIRST_ADMIN_EMAIL"], "password": env["FIRST_ADMIN_PASSWORD"]},
    )
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def admin_made(site: Site, email: str) -> None:
    """An account an administrator made: its address is vouched for (no verification mail)."""
    with site.api() as api:
        made = api.post(
            "/api/users",
            json={"email": email, "password": PASSWORD},
            headers=admin_headers(site, api),
        )
    assert made.status_code == 201, made.text


def link_of(mail) -> str:
    text = mail.message.get_body(("plain",)).get_content()
    return re.search(r"https://\S+", text).group(0)


@pytest.fixture(scope="module")
def site(mail_stack: Stack) -> Site:
    return make_site(mail_stack)


def test_forgot_password_from_the_sign_in_page_to_a_new_password(
    site: Site, smtp_server: SmtpServer, open_page
):
    T, email = site.T, unique_email("forgot")
    admin_made(site, email)
    before, before_watch = open_page()
    sign_in(before, site, email)

    page, watch = open_page()
    page.goto(f"{site.url}/")
    page.get_by_role("link", name=T("signin.forgot")).click()
    expect(page.get_by_role("heading", level=1, name=T("forgot.title"))).to_be_visible()
    page.get_by_label(T("forgot.email")).fill(email)
    page.get_by_role("button", name=T("forgot.submit")).click()
    expect(page.get_by_role("status")).to_have_text(T("forgot.sent", email=email))

    wait_for(lambda: smtp_server.to(email), 20, interval=0.2, what="the reset mail")
    page.goto(link_of(smtp_server.to(email)[0]))
    expect(page.get_by_role("heading", level=1, name=T("reset.title"))).to_be_visible()
    page.get_by_label(T("reset.email")).fill(email)
    page.get_by_label(T("reset.password"), exact=True).fill(NEW_PASSWORD)
    page.get_by_label(T("signup.confirm")).fill(NEW_PASSWORD)
    page.get_by_role("button", name=T("reset.submit")).click()
    expect(page.get_by_text(T("reset.done"))).to_be_visible()
    sign_in(page, site, email, NEW_PASSWORD)

    before.reload()  # its session was ended with the old password
    expect(before.get_by_role("heading", level=1, name=T("signin.title"))).to_be_visible()
    watch.assert_clean()
    before_watch.assert_clean({("/api/auth/refresh", 401)})


def test_an_open_sign_up_confirms_its_address_from_the_mail_then_signs_in(
    site: Site, smtp_server: SmtpServer, open_page
):
    T, email = site.T, unique_email("open")
    page, watch = open_page()
    page.goto(f"{site.url}/#/signup")
    page.get_by_label(T("signup.email")).fill(email)
    page.get_by_label(T("signup.password"), exact=True).fill(PASSWORD)
    page.get_by_label(T("signup.confirm")).fill(PASSWORD)
    page.get_by_role("button", name=T("signup.submit")).click()
    expect(page.get_by_role("status")).to_have_text(T("signup.checkMail", email=email))
    wait_for(lambda: smtp_server.to(email), 20, interval=0.2, what="the verification mail")

    # Before the link is opened, signing in is refused, saying why and offering a new link.
    page.goto(f"{site.url}/#/signin")
    page.get_by_label(T("signin.email")).fill(email)
    page.get_by_label(T("signin.password")).fill(PASSWORD)
    page.get_by_role("button", name=T("signin.submit")).click()
    refusal = page.get_by_role("alert")
    expect(refusal).to_contain_text(email)
    screenshot(page, "mail-01-sign-in-unverified")
    refusal.get_by_role("button", name=T("signin.unverifiedResend")).click()
    expect(page.get_by_role("status")).to_have_text(T("signin.unverifiedSent", email=email))
    wait_for(lambda: len(smtp_server.to(email)) == 2, 20, interval=0.2, what="a new link")

    page.goto(link_of(smtp_server.to(email)[1]))  # the new link (it ended the first one)
    expect(page.get_by_text(T("verify.done", email=email))).to_be_visible()
    screenshot(page, "mail-02-address-confirmed")
    sign_in(page, site, email)
    watch.assert_clean({("/api/auth/login", 403)})


def test_a_refused_mail_is_shown_to_the_administrator_and_sent_again_from_the_page(
    site: Site, smtp_server: SmtpServer, open_page
):
    T, env = site.T, site.stack.env
    refused = f"{REFUSED_PREFIX}page.{time.time_ns()}@example.com"
    with site.api() as api:
        made = api.post(
            "/api/invitations", json={"email": refused}, headers=admin_headers(site, api)
        )
    assert made.status_code == 201, made.text
    answer = f"550 5.1.1 <{refused}>: no such mailbox here"
    page, watch = open_page()
    sign_in(page, site, env["FIRST_ADMIN_EMAIL"], env["FIRST_ADMIN_PASSWORD"])

    query = f"SELECT status FROM mail_outbox WHERE recipient = '{refused}'"  # noqa: S608
    wait_for(lambda: sql(site.stack, query) == "failed", 30, what="the mailer's attempt")
    page.get_by_role("link", name=T("nav.users")).click()
    table = page.get_by_role("table", name=T("outbox.failedHeading"))
    row = table.get_by_role("row", name=refused)
    expect(row).to_contain_text(answer)
    expect(row).to_contain_text(T("outbox.retry"))
    screenshot(page, "mail-03-users-failed-mail")

    smtp_server.handler.forgiven.add(refused)  # the mailbox now exists
    row.get_by_role("button", name=T("outbox.retryLabel", email=refused)).click()
    expect(page.get_by_text(T("outbox.retried", email=refused))).to_be_visible()
    wait_for(lambda: smtp_server.to(refused), 20, interval=0.2, what="the mail sent again")
    assert smtp_server.to(refused)[0].message["Subject"] == "Closo : vous êtes invité(e)"
    page.reload()
    expect(page.get_by_role("heading", level=1, name=T("users.title"))).to_be_visible()
    expect(page.locator("#outbox-heading")).to_be_visible()  # the outbox has answered
    expect(table.get_by_role("row", name=refused)).to_have_count(0)
    watch.assert_clean()


def test_a_new_address_from_the_profile_takes_effect_when_its_link_is_opened(
    site: Site, smtp_server: SmtpServer, open_page
):
    T, old, new = site.T, unique_email("profile"), unique_email("profile-new")
    admin_made(site, old)
    page, watch = open_page()
    sign_in(page, site, old)
    page.get_by_role("link", name=T("nav.profile")).click()
    page.get_by_label(T("profile.email"), exact=True).fill(new)
    page.get_by_label(T("profile.emailPassword")).fill(PASSWORD)
    page.get_by_role("button", name=T("profile.save")).click()
    expect(page.get_by_role("status")).to_have_text(
        T("profile.emailPending", email=new, current=old)
    )
    expect(page.get_by_text(T("profile.emailPendingNow", email=new))).to_be_visible()
    expect(page.get_by_label(T("profile.email"), exact=True)).to_have_value(old)
    screenshot(page, "mail-04-profile-address-pending")

    wait_for(lambda: smtp_server.to(new), 20, interval=0.2, what="the new address's link")
    page.goto(link_of(smtp_server.to(new)[0]))  # in the signed-in browser
    expect(page.get_by_text(T("verify.changed", email=new))).to_be_visible()
    expect(page.get_by_role("heading", level=1, name=T("profile.title"))).to_be_visible()
    expect(page.get_by_role("banner")).to_contain_text(new)
    expect(page.get_by_label(T("profile.email"), exact=True)).to_have_value(new)
    wait_for(lambda: smtp_server.to(old), 20, interval=0.2, what="the old address's notice")
    assert smtp_server.to(old)[0].message["Subject"] == "Closo : votre adresse e-mail a changé"
    watch.assert_clean()
