""" "Forgot password" in a real browser: Debian's Chromium (Playwright) against the mail layer's
stack (native runner, edge nginx over HTTPS), the mail received by the real SMTP server on
loopback (aiosmtpd, STARTTLS and AUTH). From the sign-in page's link to the mail's link, a new
password, signed in; the browser that was signed in before is signed out. No stand-in.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from support.browser import PASSWORD, Site, make_site, sign_in, unique_email
from support.project import Stack
from support.smtp import SmtpServer
from support.waiting import wait_for

pytestmark = [pytest.mark.mail, pytest.mark.timeout(900), pytest.mark.usefixtures("fresh_throttle")]

NEW_PASSWORD = "meadow quartz lantern 73"


@pytest.fixture(scope="module")
def site(mail_stack: Stack) -> Site:
    return make_site(mail_stack)


def test_forgot_password_from_the_sign_in_page_to_a_new_password(
    site: Site, smtp_server: SmtpServer, open_page
):
    T, email = site.T, unique_email("forgot")
    with site.api() as api:
        assert api.post(
            "/api/auth/register", json={"email": email, "password": PASSWORD}
        ).is_success
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
    text = smtp_server.to(email)[0].message.get_body(("plain",)).get_content()
    link = re.search(r"https://\S+", text).group(0)
    page.goto(link)
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
