"""The app people live in, in a real browser: sessions that end in every tab, deep links through
sign-in and sign-up, the phone layout (header menu, admin list, touch screens, 200 % zoom), one
message at a time, a 429 that says when to try again, a guest's clean first visit, password
managers' conventions and each language's typography.

Debian's Chromium (Playwright) against the session's stack (French, open registration) and a
stack of this module in English whose edge allows 10 log-ins a minute per address, both booted by
the native runner and reached through the edge nginx over HTTPS. Nothing is a stand-in: sessions
end on the real backend, 429s come from the backend's throttle and from the edge, touch screens
are Chromium's own emulation (`has_touch`, `is_mobile`) and 200 % zoom is a 640×400 CSS px
viewport at a device scale factor of 2, as a 1280×800 window zoomed to 200 % lays out. Each state
is checked by axe-core and saved under test-artifacts/screenshots/ (`screenshot`); every page is
watched for console errors and CSP violations.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from support.browser import (
    PASSWORD,
    Site,
    make_site,
    screenshot,
    sign_in,
    throttle_uploads,
    unique_email,
)
from support.project import Stack, boot_stack

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

SIZES = {"desktop": (1280, 800), "phone": (390, 844)}
EDGE_RATE_PER_MINUTE = 10


@pytest.fixture(scope="session")
def site(stack: Stack) -> Site:
    return make_site(stack)


@pytest.fixture(scope="module")
def english_site(session_tmp: Path) -> Iterator[Site]:
    """English, and an edge that lets an address log in 10 times a minute (a burst of as many)."""
    booted = boot_stack(
        session_tmp / "browser-app-en",
        ui_language="en",
        settings={"AUTH_RATE_PER_MINUTE": str(EDGE_RATE_PER_MINUTE)},
    )
    try:
        yield make_site(booted)
    finally:
        booted.down()


def open_menu(page: Page, site: Site) -> None:
    """On a phone the links and Sign out are behind the Menu button; on a desktop, in the bar."""
    toggle = page.get_by_role("button", name=site.T("nav.menu"))
    if toggle.is_visible():
        toggle.click()
        expect(toggle).to_have_attribute("aria-expanded", "true")


def sign_out(page: Page, site: Site) -> None:
    open_menu(page, site)
    page.get_by_role("button", name=site.T("nav.signOut")).click()
    expect(page.get_by_role("heading", level=1, name=site.T("signin.title"))).to_be_visible()


def go_to(page: Page, site: Site, nav_key: str) -> None:
    open_menu(page, site)
    page.get_by_role("link", name=site.T(nav_key)).click()


def api_token(site: Site, email: str, password: str = PASSWORD) -> str:
    with site.api() as client:
        response = client.post("/api/auth/login", data={"username": email, "password": password})
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def no_sideways_scroll(page: Page) -> None:
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page is {overflow}px wider than the window"


# --- 2. Sessions end everywhere ------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES, ids=SIZES)
def test_signing_out_or_a_session_ended_on_the_server_signs_out_every_tab(
    open_page, site: Site, size: str
):
    """Two tabs of one browser: Sign out in one, the other shows the sign-in form by itself.
    Then (on the phone) the session is ended on the server, the password changed from another
    device: the first tab's next request finds out, and both tabs sign out at once."""
    T = site.T
    email = unique_email(f"tabs-{size}")
    site.register(email, PASSWORD)
    first, watch = open_page(*SIZES[size])
    sign_in(first, site, email)
    second = first.context.new_page()
    second.on("console", watch.on_console)
    second.on("pageerror", watch.on_page_error)
    second.goto(f"{site.url}/#/profile")
    expect(second.get_by_role("heading", level=1, name=T("profile.title"))).to_be_visible()

    sign_out(first, site)
    expect(first.get_by_role("heading", level=1, name=T("signin.title"))).to_be_visible()
    # The other tab, untouched, is signed out too, and will come back to its page.
    expect(second.get_by_role("heading", level=1, name=T("signin.title"))).to_be_visible()
    expect(second.get_by_role("status")).to_have_text(T("signin.signedOut"))
    expect(second.get_by_role("button", name=T("nav.signOut"))).to_have_count(0)
    assert second.evaluate("location.hash") == "#/signin?next=%2Fprofile"
    screenshot(second, f"30-other-tab-signed-out-{size}")

    second.get_by_label(T("signin.email")).fill(email)
    second.get_by_label(T("signin.password")).fill(PASSWORD)
    second.get_by_role("button", name=T("signin.submit")).click()
    expect(second.get_by_role("heading", level=1, name=T("profile.title"))).to_be_visible()
    if size == "desktop":
        watch.assert_clean()
        return  # the server-side end below is the same at both sizes: checked on the phone
    first.reload()
    expect(first.get_by_role("heading", level=1, name=T("files.title"))).to_be_visible()
    go_to(first, site, "nav.profile")
    expect(first.get_by_role("heading", level=1, name=T("profile.title"))).to_be_visible()

    # Another device changes the password: every other session ends on the server.
    token = api_token(site, email)
    with site.api() as client:
        changed = client.post(
            "/api/users/me/password",
            headers={"Authorization": f"Bearer {token}"},
            json={"current_password": PASSWORD, "new_password": "violet tundra maple 93"},
        )
    assert changed.status_code in (200, 204), changed.text
    # The first tab tries to save: refused, and neither tab stays signed in.
    first.get_by_label(T("profile.fullName")).fill("Still here?")
    first.get_by_role("button", name=T("profile.save")).click()
    for page in (first, second):
        expect(page.get_by_role("heading", level=1, name=T("signin.title"))).to_be_visible()
        expect(page.get_by_role("alert")).to_have_text(T("signin.sessionExpired"))
    screenshot(second, f"31-other-tab-session-ended-{size}")
    with site.api() as client:
        me = client.get("/api/users/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json()["full_name"] is None  # the refused save changed nothing
    watch.assert_clean({("/api/users/me", 401), ("/api/auth/refresh", 401)})


# --- 3. Deep links survive sign-in and sign-up ---------------------------------------------------


@pytest.mark.parametrize("size", SIZES, ids=SIZES)
def test_a_deep_link_survives_sign_in_and_no_other_site_can_be_named(
    open_page, site: Site, size: str
):
    T = site.T
    email = unique_email(f"deep-{size}")
    site.register(email, PASSWORD)
    page, watch = open_page(*SIZES[size])
    page.goto(f"{site.url}/#/profile")
    expect(page.get_by_role("heading", level=1, name=T("signin.title"))).to_be_visible()
    assert page.evaluate("location.hash") == "#/signin?next=%2Fprofile"
    screenshot(page, f"32-deep-link-sign-in-{size}")
    page.get_by_label(T("signin.email")).fill(email)
    page.get_by_label(T("signin.password")).fill(PASSWORD)
    page.get_by_role("button", name=T("signin.submit")).click()
    expect(page.get_by_role("heading", level=1, name=T("profile.title"))).to_be_visible()
    page.go_back()  # Back does not return to the sign-in form the redirect showed
    expect(page.get_by_role("heading", level=1, name=T("signin.title"))).to_have_count(0)

    # The query part of the link comes along: the file list's sort and search.
    sign_out(page, site)
    page.goto(f"{site.url}/#/files?sort=name&order=asc&q=report")
    expect(page).to_have_url(
        re.compile(r"#/signin\?next=%2Ffiles%3Fsort%3Dname%26order%3Dasc%26q%3Dreport$")
    )
    sign_in_here(page, site, email)
    expect(page.get_by_role("heading", level=1, name=T("files.title"))).to_be_visible()
    assert page.evaluate("location.hash") == "#/files?sort=name&order=asc&q=report"
    expect(page.get_by_role("searchbox")).to_have_value("report")

    # `next` names in-app pages only: another site, or a form, leads to the files instead.
    hostile_links = ("https://evil.example/", "//evil.example", "/signin", "/%2F%2Fevil.example")
    for hostile in hostile_links if size == "desktop" else hostile_links[:1]:
        sign_out(page, site)
        page.goto(f"{site.url}/#/signin?next={hostile}")
        sign_in_here(page, site, email)
        expect(page.get_by_role("heading", level=1, name=T("files.title"))).to_be_visible()
        assert page.evaluate("[location.origin, location.hash]") == [site.url, "#/files"]
    watch.assert_clean()


def sign_in_here(page: Page, site: Site, email: str, password: str = PASSWORD) -> None:
    T = site.T
    expect(page.get_by_role("heading", level=1, name=T("signin.title"))).to_be_visible()
    page.get_by_label(T("signin.email")).fill(email)
    page.get_by_label(T("signin.password")).fill(password)
    page.get_by_role("button", name=T("signin.submit")).click()
    expect(page.get_by_role("heading", level=1, name=T("signin.title"))).to_have_count(0)


@pytest.mark.parametrize("size", SIZES, ids=SIZES)
def test_a_deep_link_survives_sign_up(open_page, site: Site, size: str):
    T = site.T
    page, watch = open_page(*SIZES[size])
    page.goto(f"{site.url}/#/profile")
    expect(page.get_by_role("heading", level=1, name=T("signin.title"))).to_be_visible()
    page.get_by_role("link", name=T("signin.toSignup")).click()
    expect(page.get_by_role("heading", level=1, name=T("signup.title"))).to_be_visible()
    assert page.evaluate("location.hash") == "#/signup?next=%2Fprofile"
    email = unique_email(f"deep-signup-{size}")
    page.get_by_label(T("signup.email")).fill(email)
    page.get_by_label(T("signup.password"), exact=True).fill(PASSWORD)
    page.get_by_label(T("signup.confirm")).fill(PASSWORD)
    screenshot(page, f"33-deep-link-sign-up-{size}")
    page.get_by_role("button", name=T("signup.submit")).click()
    expect(page.get_by_role("heading", level=1, name=T("profile.title"))).to_be_visible()
    expect(page.get_by_label(T("profile.email"), exact=True)).to_have_value(email)
    watch.assert_clean()


# --- 4. A phone layout designed for phones ------------------------------------------------------


def test_the_phone_header_is_one_short_row_with_a_menu(open_page, site: Site):
    T = site.T
    email = f"a.rather.long.address.{unique_email('menu')}"
    site.register(email, PASSWORD)
    page, watch = open_page(390, 844)
    sign_in(page, site, email)
    header = page.get_by_role("banner")
    height = header.bounding_box()["height"]
    assert height <= 60, f"the header is {height}px tall at 390px"
    toggle = page.get_by_role("button", name=T("nav.menu"))
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(page.get_by_role("link", name=T("nav.profile"))).to_be_hidden()
    screenshot(page, "34-phone-header")

    toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    address = header.get_by_text(email, exact=True)
    expect(address).to_be_in_viewport(ratio=1)  # the whole address, nothing cut off
    assert address.evaluate("e => e.scrollWidth <= e.clientWidth")
    expect(page.get_by_role("button", name=T("nav.signOut"))).to_be_in_viewport()
    no_sideways_scroll(page)
    screenshot(page, "35-phone-menu-open")
    # Dark mode, without transitions (reduced motion) so colours are checked as they settle.
    page.emulate_media(color_scheme="dark", reduced_motion="reduce")
    screenshot(page, "35-phone-menu-open-dark")
    page.emulate_media(color_scheme="light", reduced_motion="no-preference")
    page.keyboard.press("Escape")
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(toggle).to_be_focused()

    toggle.click()
    page.get_by_role("link", name=T("nav.profile")).click()
    expect(page.get_by_role("heading", level=1, name=T("profile.title"))).to_be_focused()
    expect(page.get_by_role("link", name=T("nav.profile"))).to_be_hidden()  # closed again

    # A desktop shows the links and the account in the bar, and no Menu button.
    wide, wide_watch = open_page(*SIZES["desktop"])
    sign_in(wide, site, email)
    expect(wide.get_by_role("button", name=T("nav.menu"))).to_be_hidden()
    expect(wide.get_by_role("link", name=T("nav.profile"))).to_be_visible()
    expect(wide.get_by_role("button", name=T("nav.signOut"))).to_be_visible()
    # The whole address, not cut with an ellipsis, where the bar has room for it.
    wide_address = wide.get_by_role("banner").get_by_text(email, exact=True)
    expect(wide_address).to_be_in_viewport(ratio=1)
    assert wide_address.evaluate("e => e.scrollWidth <= e.clientWidth"), "the e-mail is cut"
    screenshot(wide, "36-desktop-header")
    watch.assert_clean()
    wide_watch.assert_clean()


@pytest.mark.parametrize("width", [320, 390])
def test_the_admin_user_list_fits_a_phone(open_page, site: Site, width: int):
    """Every account a card: Status and every action on screen, no sideways scrolling."""
    T = site.T
    member = f"someone.with.a.very.long.address.{unique_email('admin-phone')}"
    site.register(member, PASSWORD)
    page, watch = open_page(width, 844)
    env = site.stack.env
    sign_in(page, site, env["FIRST_ADMIN_EMAIL"], env["FIRST_ADMIN_PASSWORD"])
    page.goto(f"{site.url}/#/users")
    table = page.get_by_role("table", name=T("users.title"))
    expect(table).to_be_visible()
    page.wait_for_load_state("networkidle")
    no_sideways_scroll(page)
    screenshot(page, f"37-admin-users-{width}")

    # The newest account is on the last page; walk there, then look at its card.
    pager = page.get_by_role("navigation", name=T("pager.users"))
    while not table.get_by_role("row").filter(has_text=member).count():
        pager.get_by_role("button", name=T("pager.next")).click()
        page.wait_for_timeout(150)
    row = table.get_by_role("row").filter(has_text=member)
    row.scroll_into_view_if_needed()
    status = row.get_by_text(T("users.active"), exact=True)
    actions = [
        row.get_by_role("button", name=T(f"users.{key}Label", email=member))
        for key in ("promote", "quotaButton", "reset", "deactivate", "delete")
    ]
    for element in (status, *actions):
        element.scroll_into_view_if_needed()
        box = element.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= width, (element, box)
    no_sideways_scroll(page)
    screenshot(page, f"38-admin-user-card-{width}")
    actions[3].click()  # Deactivate asks first, in a dialog that fits too
    dialog = page.get_by_role("dialog", name=T("users.confirmDeactivateTitle", email=member))
    expect(dialog).to_be_visible()
    assert dialog.bounding_box()["width"] <= width
    screenshot(page, f"39-admin-dialog-{width}")
    dialog.get_by_role("button", name=T("files.cancel")).click()
    watch.assert_clean()


def test_choosing_files_is_the_main_action_on_a_touch_screen(open_page, site: Site):
    """Nobody drags a file on a phone: the zone offers "Choose files" as a button, which opens
    the picker when tapped. With a mouse, the drop zone says to drop files as before."""
    T = site.T
    email = unique_email("touch")
    site.register(email, PASSWORD)
    page, watch = open_page(390, 844, has_touch=True, is_mobile=True)
    sign_in(page, site, email)
    assert page.evaluate("matchMedia('(hover: none)').matches")
    expect(page.get_by_text(T("files.dropTitle"))).to_be_hidden()
    # Screen readers hear "choose files", not "or choose files": the "or" is hidden from them too.
    picker = page.locator("input[type=file]")
    expect(picker).to_have_accessible_name(re.compile(rf"^{re.escape(T('files.pick'))}"))
    choose = page.locator(".drop-zone").get_by_text(T("files.pick"))
    expect(choose).to_be_in_viewport(ratio=1)
    box = choose.bounding_box()
    assert box["height"] >= 44, box  # a finger's target
    background = choose.evaluate("e => getComputedStyle(e).backgroundColor")
    primary = page.evaluate(
        "(() => { const b = document.createElement('button'); b.className = 'btn btn-primary';"
        " document.body.append(b); const c = getComputedStyle(b).backgroundColor; b.remove();"
        " return c; })()"
    )
    assert background == primary, "Choose files does not look like the main button"
    screenshot(page, "40-touch-choose-files")
    with page.expect_file_chooser() as chooser:
        choose.tap()
    chooser.value.set_files([{"name": "from-phone.txt", "mimeType": "text/plain", "buffer": b"hi"}])
    expect(page.locator(".file-card", has_text="from-phone.txt")).to_have_count(1)

    desk, desk_watch = open_page(*SIZES["desktop"])
    sign_in(desk, site, email)
    expect(desk.get_by_text(T("files.dropTitle"))).to_be_visible()
    drop_or = rf"{re.escape(T('files.dropOr'))}\s+{re.escape(T('files.pick'))}"
    expect(desk.locator("input[type=file]")).to_have_accessible_name(re.compile(drop_or))
    watch.assert_clean()
    desk_watch.assert_clean()


def test_a_file_is_on_the_first_screen_at_200_percent_zoom(open_page, site: Site):
    """A 1280×800 window at 200 % zoom: the header is the phone's, and a file shows unscrolled."""
    T = site.T
    email = unique_email("zoom")
    site.register(email, PASSWORD)
    token = api_token(site, email)
    with site.api() as client:
        uploaded = client.post(
            "/api/upload",
            headers={"Authorization": f"Bearer {token}"},
            files={"file": ("quarterly-report.pdf", b"%PDF-1.4\n" * 10, "application/pdf")},
        )
    assert uploaded.status_code == 201, uploaded.text
    page, watch = open_page(640, 400, device_scale_factor=2)
    sign_in(page, site, email)
    expect(page.locator(".file-card")).to_have_count(1)
    screenshot(page, "41-zoom-200")
    name = page.locator(".file-card", has_text="quarterly-report.pdf").get_by_text(
        "quarterly-report.pdf"
    )
    expect(name).to_be_in_viewport(ratio=1)
    expect(page.get_by_role("button", name=T("nav.menu"))).to_be_visible()
    no_sideways_scroll(page)
    watch.assert_clean()


# --- 5. Messages, a guest's first visit, password managers, typography ----------------------------


def test_one_message_at_a_time_and_a_429_says_when_to_try_again(open_page, site: Site):
    """The backend's throttle: after 5 wrong passwords for an account, it answers 429 with
    Retry-After. The page shows only the newest message, and that one says how long to wait.
    On a phone; the edge's 429 is checked on a desktop, in English, below."""
    T = site.T
    size = "phone"
    email = unique_email(f"banner-{size}")
    site.register(email, PASSWORD)
    page, watch = open_page(*SIZES[size])
    sign_in(page, site, email)
    sign_out(page, site)
    expect(page.get_by_role("status")).to_have_text(T("signin.signedOut"))

    target = unique_email(f"throttled-{size}")
    site.register(target, PASSWORD)
    page.get_by_label(T("signin.email")).fill(target)
    for attempt in range(10):
        page.get_by_label(T("signin.password")).fill(f"wrong password {attempt}")
        with page.expect_response("**/api/auth/login") as answer:
            page.get_by_role("button", name=T("signin.submit")).click()
        expect(page.locator(".banner")).to_have_count(1)  # the newest message only
        if answer.value.status == 429:
            break
        expect(page.get_by_role("alert")).to_have_text(T("signin.badCredentials"))
    assert answer.value.status == 429, "the backend never throttled the account"
    wait = int(answer.value.header_value("retry-after"))
    assert 0 < wait <= 60, wait
    unit = "secondes" if T.language == "fr" else "seconds"
    said = re.escape(T("error.tooManyWait", wait="WAIT")).replace("WAIT", rf"\d+\s{unit}")
    expect(page.get_by_role("alert")).to_have_text(re.compile(f"^{said}$"))
    expect(page.get_by_text(T("signin.signedOut"))).to_have_count(0)
    screenshot(page, f"42-too-many-attempts-{size}")
    watch.assert_clean({("/api/auth/login", 401), ("/api/auth/login", 429)})


@pytest.mark.parametrize(
    ("size", "scheme"), [("desktop", "light"), ("phone", "dark")], ids=["desktop", "phone-dark"]
)
def test_a_guests_first_visit_logs_no_error(open_page, site: Site, size: str, scheme: str):
    """No request of a guest's page load fails: the session probe says "signed out" with a 204."""
    T = site.T
    page, watch = open_page(*SIZES[size], color_scheme=scheme)
    with page.expect_response("**/api/auth/session") as probe:
        page.goto(f"{site.url}/")
    assert probe.value.status == 204
    expect(page.get_by_role("heading", level=1, name=T("signin.title"))).to_be_visible()
    page.wait_for_load_state("networkidle")
    screenshot(page, f"43-guest-first-visit-{size}-{scheme}")
    page.goto(f"{site.url}/#/signup")
    expect(page.get_by_role("heading", level=1, name=T("signup.title"))).to_be_visible()
    page.reload()
    page.wait_for_load_state("networkidle")
    watch.assert_clean(expected=set())


# What each form's fields tell password managers, as (name, autocomplete, type) in order.
FORMS = {
    "signin": [("email", "username", "email"), ("password", "current-password", "password")],
    "signup": [
        ("full_name", "name", "text"),
        ("email", "username", "email"),
        ("password", "new-password", "password"),
        ("confirm", "new-password", "password"),
    ],
    "profile-details": [
        ("full_name", "name", "text"),
        ("email", "username", "email"),
        ("current_password", "current-password", "password"),
    ],
    "profile-password": [
        ("username", "username", "email"),
        ("current_password", "current-password", "password"),
        ("new_password", "new-password", "password"),
        ("confirm", "new-password", "password"),
    ],
}
FIELDS = "form => [...form.querySelectorAll('input')].map(i => [i.name, i.autocomplete, i.type])"


def test_forms_follow_password_managers_conventions(open_page, site: Site):
    """Every form with a password has its user name (the e-mail address), hidden if need be, and
    says which password is the current one and which is new; Chromium's own checks of forms (the
    "Issues" DevTools shows: autocomplete values, labels, names) find nothing to say."""
    T = site.T
    email = unique_email("manager")
    site.register(email, PASSWORD)
    page, watch = open_page()
    form_issues = []
    cdp = page.context.new_cdp_session(page)
    cdp.on(
        "Audits.issueAdded",
        lambda event: (
            form_issues.append(event["issue"])
            if event["issue"]["code"] == "GenericIssue"
            and event["issue"]["details"]["genericIssueDetails"]["errorType"].startswith("Form")
            else None
        ),
    )
    cdp.send("Audits.enable")
    page.goto(f"{site.url}/#/signup")
    expect(page.get_by_role("heading", level=1, name=T("signup.title"))).to_be_visible()
    assert page.locator("form").evaluate(FIELDS) == [list(f) for f in FORMS["signup"]]
    page.goto(f"{site.url}/#/signin")
    expect(page.get_by_role("heading", level=1, name=T("signin.title"))).to_be_visible()
    assert page.locator("form").evaluate(FIELDS) == [list(f) for f in FORMS["signin"]]
    sign_in(page, site, email)
    go_to(page, site, "nav.profile")
    expect(page.get_by_role("heading", level=1, name=T("profile.title"))).to_be_visible()
    details, password = page.locator("form").all()
    assert details.evaluate(FIELDS) == [list(f) for f in FORMS["profile-details"]]
    assert password.evaluate(FIELDS) == [list(f) for f in FORMS["profile-password"]]
    username = password.locator("input[autocomplete=username]")
    expect(username).to_have_value(email)
    expect(username).to_be_hidden()
    assert username.evaluate("i => i.readOnly")
    screenshot(page, "44-profile-password-manager")
    # Changing the password keeps the user name there for the manager to save the new one with.
    new_password = "copper lantern orchard 71"
    page.get_by_label(T("profile.currentPassword")).fill(PASSWORD)
    page.get_by_label(T("profile.newPassword"), exact=True).fill(new_password)
    page.get_by_label(T("profile.confirmPassword")).fill(new_password)
    page.get_by_role("button", name=T("profile.changePassword")).click()
    expect(page.get_by_role("status")).to_have_text(T("profile.passwordSaved"))
    expect(username).to_have_value(email)
    assert form_issues == []
    watch.assert_clean()


def percent_in_progress(page: Page, pattern: str) -> str:
    """Upload 1 MB slowly and return the progress text once it shows a percentage part-way."""
    throttle_uploads(page, 512 * 1024)
    page.locator("input[type=file]").set_input_files(
        [{"name": "slow.bin", "mimeType": "application/octet-stream", "buffer": b"x" * 1_000_000}]
    )
    progress = page.locator(".upload-row", has_text="slow.bin").locator(".upload-progress-text")
    expect(progress).to_have_text(re.compile(pattern))
    text = progress.inner_text()
    return text


def test_french_writes_40_percent_with_a_narrow_no_break_space(open_page, site: Site):
    page, watch = open_page(*SIZES["phone"])
    email = unique_email("typo-fr")
    site.register(email, PASSWORD)
    sign_in(page, site, email)
    # "512 ko sur 1 Mo (51 %)": a no-break space between the number and the sign (Intl's
    # U+00A0, or U+202F), never a plain space that could leave "%" alone on the next line.
    text = percent_in_progress(page, r"\((?:[1-9]|[1-9]\d)[\u00a0\u202f]%\)$")
    assert " %" not in text, repr(text)
    # (The screenshot waits for the upload: a full-page capture while one travels throttled can
    # make Chromium report the network as changed and fail it.)
    expect(page.locator(".file-card", has_text="slow.bin")).to_have_count(1, timeout=15_000)
    screenshot(page, "45-progress-fr")
    watch.assert_clean()


def test_english_writes_40_percent_without_a_space(open_page, english_site: Site):
    T = english_site.T
    page, watch = open_page_on(open_page, english_site)
    email = unique_email("typo-en")
    english_site.register(email, PASSWORD)
    sign_in(page, english_site, email)
    percent_in_progress(page, r"\((?:[1-9]|[1-9]\d)%\)$")
    # (The screenshot waits for the upload: a full-page capture while one travels throttled can
    # make Chromium report the network as changed and fail it.)
    expect(page.locator(".file-card", has_text="slow.bin")).to_have_count(1, timeout=15_000)
    screenshot(page, "46-progress-en")
    expect(page.get_by_text(T("files.countOne", count=1))).to_be_visible()
    watch.assert_clean()


def test_the_edges_429_says_when_to_try_again(open_page, english_site: Site):
    """The edge's per-address limit on log-ins (10 a minute here) answers 429 with Retry-After:
    60; the form says "Try again in 1 minute". Runs last on this stack: it uses up the limit."""
    T = english_site.T
    page, watch = open_page_on(open_page, english_site)
    page.goto(f"{english_site.url}/")
    expect(page.get_by_role("heading", level=1, name=T("signin.title"))).to_be_visible()
    # The form is filled before each flood, so that the click follows it at once: the limit lets
    # one more log-in through every 6 s, and a loaded machine can take that long between the two
    # (that log-in then gets the backend's 401, and the flood starts again).
    for _ in range(3):
        page.get_by_label(T("signin.email")).fill(unique_email("edge"))
        page.get_by_label(T("signin.password")).fill(PASSWORD)
        with english_site.api() as client:
            for _ in range(3 * EDGE_RATE_PER_MINUTE):
                # A new address each time: the backend's per-account throttle never answers first.
                answer = client.post(
                    "/api/auth/login", data={"username": unique_email("flood"), "password": "x"}
                )
                if answer.status_code == 429:
                    break
        assert answer.status_code == 429 and answer.headers["retry-after"] == "60", answer.headers
        with page.expect_response("**/api/auth/login") as refused:
            page.get_by_role("button", name=T("signin.submit")).click()
        if refused.value.status == 429:
            break
    assert refused.value.status == 429
    said = re.escape(T("error.tooManyWait", wait="WAIT")).replace("WAIT", r"1\sminute")
    expect(page.get_by_role("alert")).to_have_text(re.compile(f"^{said}$"))
    screenshot(page, "47-edge-too-many-en")
    watch.assert_clean({("/api/auth/login", 429), ("/api/auth/login", 401)})


def open_page_on(open_page, other: Site):
    """`open_page` drives the module's `site`; a page on `other` is watched the same way."""
    page, watch = open_page()
    watch.base_url = other.url
    return page, watch
