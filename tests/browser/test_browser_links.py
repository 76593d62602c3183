"""One-time links refused, a 422 in a form, and a session ended on the server found by a tab that
comes back into view, in a real browser.

Debian's Chromium (Playwright) against a stack of this module with the default answer
registration=invite, booted by the native runner and reached through the edge nginx over HTTPS,
at 1280×800 and 390×844. The refusals are the backend's own: a link is used through the API
first, or made to expire by setting its row's expiry to now in the stack's PostgreSQL (a real
invitation lives INVITATION_HOURS), as tests/reliability/ does. The one stand-in is the
tab's visibility: headless Chromium keeps every page 'visible' (bringing another tab to the
front, minimising the window and lifecycle states leave it so), so the test sets
document.visibilityState and fires `visibilitychange` as the browser does when a person comes
back to the tab; the request that follows and the server's answer are real. Each state is
checked by axe-core and saved under test-artifacts/screenshots/; every page is watched for
console errors and CSP violations.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect
from support.api import all_users, bearer, sql
from support.browser import PASSWORD, Site, make_site, screenshot, sign_in, unique_email
from support.project import boot_stack

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

SIZES = {"desktop": (1280, 800), "phone": (390, 844)}
NEW_PASSWORD = "lantern pebble orchard 41"
# The backend's sentences for a refused link (app/core/messages.py), as a person reads them.
LINK_USED = {
    "fr": "Ce lien a déjà servi : demandez-en un nouveau à un administrateur.",
    "en": "This link has already been used: ask an administrator for a new one.",
}
LINK_EXPIRED = {
    "fr": "Ce lien a expiré : demandez-en un nouveau à un administrateur.",
    "en": "This link has expired: ask an administrator for a new one.",
}
LINK_WRONG_EMAIL = {
    "fr": "Ce lien a été créé pour une autre adresse e-mail : utilisez celle à laquelle il a "
    "été envoyé.",
    "en": "This link was made for another e-mail address: use the address it was sent to.",
}


@pytest.fixture(scope="module")
def site(session_tmp: Path) -> Iterator[Site]:
    """A stack with the default answer registration=invite (invitation links are the way in).
    The edge's per-address limit on logins and sign-ups is raised, as for the session's stack:
    every test here signs in and signs up from 127.0.0.1."""
    booted = boot_stack(
        session_tmp / "browser-links",
        registration="invite",
        settings={"AUTH_RATE_PER_MINUTE": "600"},
    )
    try:
        yield make_site(booted)
    finally:
        booted.down()


def admin(client: httpx.Client, site: Site) -> dict[str, str]:
    env = site.stack.env
    answer = client.post(
        "/api/auth/login",
        data={"username": env["FIRST_ADMIN_EMAIL"], "password": env["FIRST_ADMIN_PASSWORD"]},
    )
    assert answer.status_code == 200, answer.text
    return bearer(answer.json()["access_token"])


def issued_path(answer: httpx.Response) -> str:
    """The `/#/join?token=…` or `/#/reset?token=…` an administrator hands on."""
    assert answer.status_code == 201, answer.text
    return answer.json()["path"]


def token_of(path: str) -> str:
    return path.rsplit("token=", 1)[1]


def expire_links_of(site: Site, email: str) -> None:
    # The addresses are the test's own (hex): nothing to escape.
    sql(site.stack, f"UPDATE account_links SET expires_at = now() WHERE email = '{email}'")  # noqa: S608


def emails_of_accounts(client: httpx.Client, headers: dict[str, str]) -> list[str]:
    return [user["email"] for user in all_users(client, headers)]


def create_account(client: httpx.Client, headers: dict[str, str], email: str) -> str:
    """An account made by an administrator (sign-up needs an invitation here); returns its id."""
    made = client.post("/api/users", headers=headers, json={"email": email, "password": PASSWORD})
    assert made.status_code == 201, made.text
    return made.json()["id"]


def fill(page: Page, values: dict[str, str]) -> None:
    for label, value in values.items():
        page.get_by_label(label, exact=True).fill(value)


def assert_one_message_and_the_form_kept(page: Page, sentence: str, values: dict[str, str]):
    """The sentence in one visible message (an alert), and every field as the person left it."""
    expect(page.get_by_role("alert")).to_have_text(sentence)
    expect(page.locator(".banner:visible")).to_have_count(1)
    for label, value in values.items():
        expect(page.get_by_label(label, exact=True)).to_have_value(value)


@pytest.mark.parametrize("size", SIZES, ids=SIZES)
def test_refused_invitations_say_why_keep_the_form_and_create_no_account(
    open_page, site: Site, size: str
):
    """An invitation already used and one expired say so on arrival, in place of the form; a live
    one fills its address in, and used with another address than its own (after a 422 for an
    address the server refuses, which names the field once) shows the backend's sentence alone,
    the form keeping what was typed. No account appears."""
    T, language = site.T, site.T.language
    used_for, late, invited, stranger = (
        unique_email(f"{kind}-{size}") for kind in ("used", "late", "invited", "stranger")
    )
    with site.api() as client:
        headers = admin(client, site)
        used = issued_path(
            client.post("/api/invitations", headers=headers, json={"email": used_for})
        )
        body = {"email": used_for, "password": PASSWORD, "invitation": token_of(used)}
        assert client.post("/api/auth/register", json=body).status_code == 201
        expired = issued_path(
            client.post("/api/invitations", headers=headers, json={"email": late})
        )
        expire_links_of(site, late)
        alive = issued_path(
            client.post("/api/invitations", headers=headers, json={"email": invited})
        )
        before = emails_of_accounts(client, headers)

    page, watch = open_page(*SIZES[size])
    form = {
        T("signup.fullName"): "Ada Lovelace",
        T("signup.password"): NEW_PASSWORD,
        T("signup.confirm"): NEW_PASSWORD,
    }
    for path, sentence, state in (
        (used, LINK_USED[language], "used"),
        (expired, LINK_EXPIRED[language], "expired"),
    ):
        # Said on arrival, before anything is typed: no form to fill in for nothing.
        page.goto(f"{site.url}{path}")
        expect(page.get_by_role("heading", level=1, name=T("join.title"))).to_be_visible()
        expect(page.get_by_role("alert")).to_have_text(sentence)
        expect(page.locator(".banner:visible")).to_have_count(1)
        expect(page.get_by_label(T("signup.password"), exact=True)).to_have_count(0)
        screenshot(page, f"50-invitation-{state}-{size}")

    # A live invitation fills its address in. Then an address the browser lets through (no dot
    # after the @) and the server does not: the 422's sentence names the field itself, once.
    page.goto(f"{site.url}{alive}")
    expect(page.get_by_label(T("signup.email"), exact=True)).to_have_value(invited)
    dotless = invited.replace("@example.com", "@intranet")
    with site.api() as client:
        problems = client.post(
            "/api/auth/register",
            json={"email": dotless, "password": NEW_PASSWORD, "invitation": token_of(alive)},
        )
    assert problems.status_code == 422, problems.text
    (problem,) = problems.json()["detail"]
    field_name = re.split(r"\s*:", problem["msg"], maxsplit=1)[0]  # "Adresse e-mail"
    assert problem["loc"][-1] == "email" and field_name != problem["msg"], problem
    typed = {**form, T("signup.email"): dotless}
    fill(page, typed)
    page.get_by_role("button", name=T("signup.submit")).click()
    assert_one_message_and_the_form_kept(page, T("error.invalid", details=problem["msg"]), typed)
    shown = page.get_by_role("alert").inner_text()
    assert shown.count(field_name) == 1, f"the field is named more than once: {shown!r}"
    assert "email:" not in shown, shown
    screenshot(page, f"51-invitation-invalid-email-{size}")

    # The same invitation with another address than its own: refused, and it stays unused.
    typed = {**form, T("signup.email"): stranger}
    fill(page, typed)
    page.get_by_role("button", name=T("signup.submit")).click()
    assert_one_message_and_the_form_kept(page, LINK_WRONG_EMAIL[language], typed)
    screenshot(page, f"52-invitation-other-email-{size}")

    with site.api() as client:
        after = emails_of_accounts(client, admin(client, site))
    assert sorted(after) == sorted(before), "a refused invitation created or removed an account"
    assert not {late, invited, stranger} & set(after)
    watch.assert_clean(
        {("/api/auth/invitation", 400), ("/api/auth/register", 400), ("/api/auth/register", 422)}
    )


@pytest.mark.parametrize("size", SIZES, ids=SIZES)
def test_refused_reset_links_say_why_keep_the_form_and_change_no_password(
    open_page, site: Site, size: str
):
    """A reset link already used and one expired: the backend's sentence alone, the form as the
    person left it, and the password the account had still the one that works."""
    T, language = site.T, site.T.language
    email = unique_email(f"reset-{size}")
    current = "quartz heron violin 93"
    with site.api() as client:
        headers = admin(client, site)
        user_id = create_account(client, headers, email)
        used = issued_path(client.post(f"/api/users/{user_id}/password-reset", headers=headers))
        body = {"token": token_of(used), "email": email, "new_password": current}
        assert client.post("/api/auth/reset-password", json=body).status_code == 204

    page, watch = open_page(*SIZES[size])
    typed = {
        T("reset.email"): email,
        T("reset.password"): NEW_PASSWORD,
        T("signup.confirm"): NEW_PASSWORD,
    }
    for state, sentence in (("used", LINK_USED[language]), ("expired", LINK_EXPIRED[language])):
        if state == "expired":
            with site.api() as client:
                path = client.post(
                    f"/api/users/{user_id}/password-reset", headers=admin(client, site)
                )
            expire_links_of(site, email)
            used = issued_path(path)
        page.goto(f"{site.url}{used}")
        expect(page.get_by_role("heading", level=1, name=T("reset.title"))).to_be_visible()
        fill(page, typed)
        page.get_by_role("button", name=T("reset.submit")).click()
        assert_one_message_and_the_form_kept(page, sentence, typed)
        expect(page.get_by_role("heading", level=1, name=T("reset.title"))).to_be_visible()
        screenshot(page, f"53-reset-{state}-{size}")

    with site.api() as client:
        refused = client.post("/api/auth/login", data={"username": email, "password": NEW_PASSWORD})
        kept = client.post("/api/auth/login", data={"username": email, "password": current})
    assert (refused.status_code, kept.status_code) == (401, 200)
    watch.assert_clean({("/api/auth/reset-password", 400)})


def set_visibility(page: Page, state: str) -> None:
    """What the browser does when the person leaves the tab ('hidden') or comes back ('visible')."""
    page.evaluate(
        """state => {
          const hidden = state === 'hidden';
          Object.defineProperty(document, 'visibilityState', { value: state, configurable: true });
          Object.defineProperty(document, 'hidden', { value: hidden, configurable: true });
          document.dispatchEvent(new Event('visibilitychange'));
        }""",
        state,
    )


@pytest.mark.parametrize("size", SIZES, ids=SIZES)
def test_a_tab_coming_back_into_view_signs_out_if_its_session_ended_meanwhile(
    open_page, site: Site, size: str
):
    """The person leaves the tab on their profile; meanwhile their password is changed on another
    device, which ends this session on the server. Back on the tab, before touching anything, it
    shows the sign-in form saying the session ended, and signing in returns to the profile."""
    T = site.T
    email = unique_email(f"away-{size}")
    with site.api() as client:
        create_account(client, admin(client, site), email)
    page, watch = open_page(*SIZES[size])
    sign_in(page, site, email)
    page.goto(f"{site.url}/#/profile")
    heading = page.get_by_role("heading", level=1, name=T("profile.title"))
    expect(heading).to_be_visible()

    # Back while the session still stands: the quiet check keeps the tab as it is.
    set_visibility(page, "hidden")
    with page.expect_response("**/api/auth/session") as check:
        set_visibility(page, "visible")
    assert check.value.status == 200
    expect(heading).to_be_visible()

    set_visibility(page, "hidden")
    with site.api() as client:
        token = client.post(
            "/api/auth/login", data={"username": email, "password": PASSWORD}
        ).json()["access_token"]
        changed = client.post(
            "/api/users/me/password",
            headers=bearer(token),
            json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        )
    assert changed.status_code == 204, changed.text
    with page.expect_response("**/api/auth/session") as check:
        set_visibility(page, "visible")
    assert check.value.status == 204
    expect(page.get_by_role("heading", level=1, name=T("signin.title"))).to_be_visible()
    expect(page.get_by_role("alert")).to_have_text(T("signin.sessionExpired"))
    assert page.evaluate("location.hash") == "#/signin?next=%2Fprofile"
    screenshot(page, f"54-back-to-a-tab-whose-session-ended-{size}")

    page.get_by_label(T("signin.email")).fill(email)
    page.get_by_label(T("signin.password")).fill(NEW_PASSWORD)
    page.get_by_role("button", name=T("signin.submit")).click()
    expect(heading).to_be_visible()
    watch.assert_clean()  # the check that found the session over is a 204, not an error
