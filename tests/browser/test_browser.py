"""The generated frontend in a real browser: Debian's Chromium, driven by Playwright, against the
stack booted by the native runner, through the edge nginx over HTTPS.

Each test opens fresh browser contexts (own cookies) and makes its own users, so the tests do not
depend on one another. Every page is watched: a console error, an uncaught exception or a CSP
violation fails the test. Screenshots of each main screen go to test-artifacts/screenshots/.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect
from support.browser import (
    PASSWORD,
    Site,
    assert_accessible,
    make_site,
    png_bytes,
    screenshot,
    sign_in,
    throttle_uploads,
    unique_email,
)
from support.project import Stack, boot_stack

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

# Progress text between 1 % and 99 %, with sizes before it ("512 ko sur 1 Mo (48 %)", a no-break
# space before the sign in French; "(48%)" in English).
PART_WAY = re.compile(r"^\d.*\d.*\(([1-9]|[1-9]\d)[\u00a0\u202f]?%\)$")


@pytest.fixture(scope="session")
def site(stack: Stack) -> Site:
    return make_site(stack)


@pytest.fixture(scope="module")
def invite_site(session_tmp: Path) -> Iterator[Site]:
    """A second stack with REGISTRATION=invite, the default answer (the shared one is open)."""
    stack = boot_stack(session_tmp / "invite-stack", registration="invite")
    try:
        yield make_site(stack)
    finally:
        stack.down()


def test_user_journey(open_page, site: Site, session_tmp: Path):
    """Sign up → upload two files with progress → see them → download → delete → sign out."""
    T = site.T
    page, watch = open_page()
    email = unique_email("journey")

    response = page.goto(f"{site.url}/")
    # The edge's strict policy is what the page runs under, so "no CSP violation" means something.
    policy = response.header_value("content-security-policy")
    assert "default-src 'self'" in policy and "script-src 'self'" in policy, policy
    assert page.evaluate("document.documentElement.lang") == T.language
    expect(page.get_by_role("heading", level=1, name=T("signin.title"))).to_be_visible()
    screenshot(page, "01-sign-in")

    # This stack sends no mail (no SMTP settings): nothing offers a reset by mail.
    expect(page.get_by_role("link", name=T("signin.toSignup"))).to_be_visible()
    expect(page.get_by_role("link", name=T("signin.forgot"))).to_have_count(0)
    page.get_by_role("link", name=T("signin.toSignup")).click()
    expect(page.get_by_role("heading", level=1, name=T("signup.title"))).to_be_focused()
    page.get_by_label(T("signup.fullName")).fill("Ada Lovelace")
    page.get_by_label(T("signup.email")).fill(email)
    page.get_by_label(T("signup.password"), exact=True).fill(PASSWORD)
    page.get_by_label(T("signup.confirm")).fill(PASSWORD)
    screenshot(page, "02-sign-up")
    page.get_by_role("button", name=T("signup.submit")).click()

    # Signed in straight away, on an empty file list.
    expect(page.get_by_role("heading", level=1, name=T("files.title"))).to_be_visible()
    expect(page.get_by_text(T("files.empty"))).to_be_visible()
    expect(page.get_by_role("banner")).to_contain_text(email)
    screenshot(page, "03-files-empty")

    # Two files at once, slowed down so that each shows its progress in bytes and percent.
    text_bytes = bytes(range(256)) * 4096  # 1 MiB with every byte value
    image_bytes = png_bytes()
    throttle_uploads(page, 512 * 1024)
    page.locator("input[type=file]").set_input_files(
        [
            {"name": "notes.bin", "mimeType": "application/octet-stream", "buffer": text_bytes},
            {"name": "photo.png", "mimeType": "image/png", "buffer": image_bytes},
        ]
    )
    first_row = page.locator(".upload-row", has_text="notes.bin")
    # "512 ko sur 1 Mo (48 %)": bytes and percent, and the bar part-filled, while it travels.
    expect(first_row.locator(".upload-progress-text")).to_have_text(PART_WAY)
    cancel_label = T("upload.cancelLabel", name="notes.bin")
    expect(first_row.get_by_role("button", name=cancel_label)).to_be_visible()
    assert first_row.locator("progress").evaluate("p => p.value > 0 && p.value < p.max")
    screenshot(page, "04-uploading")
    done = T("upload.done")
    expect(first_row.locator(".upload-progress-text")).to_have_text(done, timeout=30_000)
    throttle_uploads(page, -1)

    cards = page.locator(".file-card")
    expect(cards).to_have_count(2)
    expect(page.get_by_text(T("files.count", count=2))).to_be_visible()
    image = page.locator(".file-card", has_text="photo.png").locator("img.thumb")
    expect(image).to_be_visible()
    page.wait_for_function(
        "img => img.complete && img.naturalWidth === 64", arg=image.element_handle()
    )
    one_mb = "1 Mo" if T.language == "fr" else "1 MB"
    expect(page.locator(".file-card", has_text="notes.bin")).to_contain_text(one_mb)
    screenshot(page, "05-files")

    # Download: the bytes that arrive are the bytes that were sent.
    with page.expect_download() as download:
        page.locator(".file-card", has_text="notes.bin").locator("a.file-name").click()
    assert Path(download.value.path()).read_bytes() == text_bytes

    # Delete, with a confirmation that Cancel (the default) leaves alone.
    delete = page.get_by_role("button", name=T("files.deleteLabel", name="notes.bin"))
    delete.click()
    dialog = page.get_by_role("dialog", name=T("files.confirmTitle"))
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("button", name=T("files.cancel"))).to_be_focused()
    screenshot(page, "06-confirm-delete")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(delete).to_be_focused()
    expect(cards).to_have_count(2)
    delete.click()
    dialog.get_by_role("button", name=T("files.confirmDelete")).click()
    expect(cards).to_have_count(1)
    deleted = T("files.deleted", name="notes.bin")
    expect(page.get_by_role("status").filter(has_text=deleted)).to_be_attached()

    # The access token never touches web storage; a reload keeps the session (refresh cookie).
    assert page.evaluate("localStorage.length + sessionStorage.length") == 0
    page.reload()
    expect(page.get_by_role("heading", level=1, name=T("files.title"))).to_be_visible()
    expect(cards).to_have_count(1)

    page.get_by_role("button", name=T("nav.signOut")).click()
    expect(page.get_by_role("heading", level=1, name=T("signin.title"))).to_be_visible()
    expect(page.get_by_role("status")).to_have_text(T("signin.signedOut"))
    assert_accessible(page, "signed out")
    page.reload()
    expect(page.get_by_role("heading", level=1, name=T("signin.title"))).to_be_visible()
    expect(page.get_by_role("button", name=T("nav.signOut"))).to_have_count(0)
    watch.assert_clean()


def test_cancel_upload(open_page, site: Site):
    T = site.T
    page, watch = open_page()
    email = unique_email("cancel")
    site.register(email, PASSWORD)
    sign_in(page, site, email)
    throttle_uploads(page, 64 * 1024)
    page.locator("input[type=file]").set_input_files(
        [{"name": "big.bin", "mimeType": "application/octet-stream", "buffer": b"x" * 2_000_000}]
    )
    row = page.locator(".upload-row", has_text="big.bin")
    expect(row.locator(".upload-progress-text")).to_have_text(PART_WAY)
    row.get_by_role("button", name=T("upload.cancelLabel", name="big.bin")).click()
    expect(row.locator(".upload-message")).to_have_text(T("upload.cancelled"))
    # Focus stays in the row, on the button that replaced Cancel.
    expect(row.get_by_role("button", name=T("upload.dismiss"))).to_be_focused()
    assert_accessible(page, "upload cancelled")
    throttle_uploads(page, -1)
    page.reload()
    expect(page.get_by_text(T("files.empty"))).to_be_visible()
    watch.assert_clean()


def test_download_keeps_the_original_name(open_page, site: Site):
    """The browser saves a download under the name the user uploaded, not the stored name."""
    page, watch = open_page()
    email = unique_email("download")
    site.register(email, PASSWORD)
    sign_in(page, site, email)
    content = b"quarterly numbers\n" * 100
    page.locator("input[type=file]").set_input_files(
        [{"name": "Report 2024.txt", "mimeType": "text/plain", "buffer": content}]
    )
    link = page.locator(".file-card", has_text="Report 2024.txt").locator("a.file-name")
    with page.expect_download() as download:
        link.click()
    assert Path(download.value.path()).read_bytes() == content
    assert download.value.suggested_filename == "Report 2024.txt"
    assert_accessible(page, "files after a download")
    watch.assert_clean()


def test_an_expired_download_link_is_renewed_before_it_is_followed(open_page, site: Site):
    """Links expire (DOWNLOAD_LINK_MINUTES). A page that holds one past its time (a tab left open,
    a computer that slept) asks the API for a fresh link when the user clicks: here the list
    answers links that have already expired, and the download still works."""
    page, watch = open_page()
    email = unique_email("stale-link")
    site.register(email, PASSWORD)

    def expired_list(route):
        answer = route.fetch()
        body = answer.json()
        for item in body.get("items", []):
            item["url_expires_at"] = "2001-01-01T00:00:00Z"
        route.fulfill(response=answer, json=body)

    page.route(re.compile(r".*/api/files\?.*"), expired_list)
    sign_in(page, site, email)
    content = b"kept for later\n" * 50
    page.locator("input[type=file]").set_input_files(
        [{"name": "later.txt", "mimeType": "text/plain", "buffer": content}]
    )
    link = page.locator(".file-card", has_text="later.txt").locator("a.file-name")
    assert "signature=" in link.get_attribute("href")
    with (
        page.expect_response(re.compile(r".*/api/files/[0-9a-f-]{36}$")) as renewed,
        page.expect_download() as download,
    ):
        link.click()
    assert renewed.value.status == 200
    assert Path(download.value.path()).read_bytes() == content
    watch.assert_clean()


def test_wrong_password_is_explained(open_page, site: Site):
    T = site.T
    page, watch = open_page()
    email = unique_email("wrong")
    site.register(email, PASSWORD)
    page.goto(f"{site.url}/")
    page.get_by_label(T("signin.email")).fill(email)
    page.get_by_label(T("signin.password")).fill("not the password")
    page.get_by_role("button", name=T("signin.submit")).click()
    expect(page.get_by_role("alert")).to_have_text(T("signin.badCredentials"))
    expect(page.get_by_label(T("signin.password"))).to_be_focused()
    screenshot(page, "07-sign-in-error")
    watch.assert_clean({("/api/auth/login", 401)})


def test_too_large_file_is_refused_before_it_is_sent(open_page, site: Site, session_tmp: Path):
    """A file over MAX_UPLOAD_MB is refused in the page, before a byte of it travels, with its
    size and the limit written so that they cannot read alike (one byte over is not "50 Mo" beside
    "50 Mo")."""
    T = site.T
    limit_mb = int(site.stack.env["MAX_UPLOAD_MB"])
    big = session_tmp / "too-large.bin"
    with big.open("wb") as handle:
        handle.truncate(limit_mb * 1_000_000 + 1)  # one byte over the decimal limit; sparse file
    page, watch = open_page()
    email = unique_email("large")
    site.register(email, PASSWORD)
    sign_in(page, site, email)
    expect(page.get_by_test_id("usage")).not_to_be_empty()  # the page knows the limits
    uploads = []
    page.on(
        "request", lambda request: uploads.append(request) if "/api/upload" in request.url else None
    )
    page.locator("input[type=file]").set_input_files(str(big))
    row = page.locator(".upload-row", has_text="too-large.bin")
    expect(row).to_have_class(re.compile(r"\bis-error\b"))
    unit = "Mo" if T.language == "fr" else "MB"
    separator = "," if T.language == "fr" else "."
    message = T(
        "upload.tooLarge", size=f"{limit_mb}{separator}000001 {unit}", max=f"{limit_mb} {unit}"
    )
    expect(row.locator(".upload-message")).to_have_text(message)
    screenshot(page, "08-upload-too-large")
    assert uploads == [], "the file was sent"
    page.reload()
    expect(page.get_by_text(T("files.empty"))).to_be_visible()
    watch.assert_clean()


def test_expired_session_returns_to_sign_in(open_page, site: Site):
    """After the access token's lifetime the app refreshes it; once the refresh cookie is gone too,
    the user lands on the sign-in form with a message.

    Time is simulated in the browser only (Playwright's clock): waiting the real 15 minutes of
    ACCESS_TOKEN_EXPIRE_MINUTES is out of budget. The server's answers are all real.
    """
    T = site.T
    page, watch = open_page()
    email = unique_email("expiry")
    site.register(email, PASSWORD)
    page.clock.install()
    sign_in(page, site, email)
    lifetime_ms = int(site.stack.env.get("ACCESS_TOKEN_EXPIRE_MINUTES", "15")) * 60_000

    # Token expired, refresh cookie valid: the user notices nothing.
    page.clock.fast_forward(lifetime_ms + 1000)
    page.get_by_role("link", name=T("nav.profile")).click()
    page.get_by_role("link", name=T("nav.files")).click()
    expect(page.get_by_text(T("files.empty"))).to_be_visible()
    expect(page.get_by_role("heading", level=1, name=T("files.title"))).to_be_visible()

    # Refresh cookie gone as well (expired, or revoked elsewhere): back to sign-in, with a message.
    page.context.clear_cookies()
    page.clock.fast_forward(lifetime_ms + 1000)
    page.get_by_role("link", name=T("nav.profile")).click()
    page.get_by_role("link", name=T("nav.files")).click()
    expect(page.get_by_role("heading", level=1, name=T("signin.title"))).to_be_visible()
    expect(page.get_by_role("alert")).to_have_text(T("signin.sessionExpired"))
    screenshot(page, "09-session-expired")
    # The refresh that finds the session over is the one failed request the app expects here.
    watch.assert_clean({("/api/auth/refresh", 401)})


def test_profile_and_password(open_page, site: Site):
    T = site.T
    page, watch = open_page()
    email = unique_email("profile")
    site.register(email, PASSWORD, full_name="Grace")
    sign_in(page, site, email)
    page.get_by_role("link", name=T("nav.profile")).click()
    expect(page.get_by_role("heading", level=1, name=T("profile.title"))).to_be_focused()
    expect(page.get_by_label(T("profile.fullName"))).to_have_value("Grace")
    page.get_by_label(T("profile.fullName")).fill("Grace Hopper")
    page.get_by_role("button", name=T("profile.save")).click()
    expect(page.get_by_role("status").filter(has_text=T("profile.saved"))).to_be_visible()

    # A new e-mail address needs the password: a borrowed session cannot take the account.
    new_email = unique_email("profile-moved")
    page.get_by_label(T("profile.email"), exact=True).fill(new_email)
    page.get_by_role("button", name=T("profile.save")).click()
    expect(page.get_by_role("alert")).to_have_text(T("profile.emailNeedsPassword"))
    page.get_by_label(T("profile.emailPassword")).fill(PASSWORD)
    page.get_by_role("button", name=T("profile.save")).click()
    expect(page.get_by_role("status").filter(has_text=T("profile.saved"))).to_be_visible()
    email = new_email

    new_password = "a much better password"
    page.get_by_label(T("profile.currentPassword")).fill("wrong password")
    page.get_by_label(T("profile.newPassword"), exact=True).fill(new_password)
    page.get_by_label(T("profile.confirmPassword")).fill(new_password)
    page.get_by_role("button", name=T("profile.changePassword")).click()
    expect(page.get_by_role("alert")).to_have_text(T("profile.wrongPassword"))
    page.get_by_label(T("profile.currentPassword")).fill(PASSWORD)
    page.get_by_label(T("profile.newPassword"), exact=True).fill(new_password)
    page.get_by_label(T("profile.confirmPassword")).fill(new_password)
    page.get_by_role("button", name=T("profile.changePassword")).click()
    expect(page.get_by_role("status").filter(has_text=T("profile.passwordSaved"))).to_be_visible()
    screenshot(page, "10-profile")

    page.reload()  # the name was saved on the server, and this session survived the change
    expect(page.get_by_label(T("profile.fullName"))).to_have_value("Grace Hopper")
    page.get_by_role("button", name=T("nav.signOut")).click()
    sign_in(page, site, email, new_password)
    watch.assert_clean({("/api/users/me/password", 400)})


def test_admin_manages_users(open_page, site: Site):
    T = site.T
    marker = uuid.uuid4().hex[:6]
    # More users than one page holds (20), so the pager is there whatever other tests created.
    emails = [f"member{n:02d}.{marker}@example.com" for n in range(21)]
    for email in emails:
        site.register(email, PASSWORD)
    target = emails[0]

    page, watch = open_page()
    sign_in(page, site, site.stack.env["FIRST_ADMIN_EMAIL"], site.stack.env["FIRST_ADMIN_PASSWORD"])
    page.get_by_role("link", name=T("nav.users")).click()
    expect(page.get_by_role("heading", level=1, name=T("users.title"))).to_be_focused()
    table = page.get_by_role("table", name=T("users.title"))
    expect(table.get_by_role("row")).to_have_count(21)  # header + 20
    pager = page.get_by_role("navigation", name=T("pager.users"))
    expect(pager.get_by_role("button", name=T("pager.previous"))).to_be_disabled()
    screenshot(page, "11-admin-users")
    page_range = pager.locator(".pager-range")
    expect(page_range).to_have_text(re.compile(r"^1\s*–\s*20\b"))
    pager.get_by_role("button", name=T("pager.next")).click()
    expect(page_range).to_have_text(re.compile(r"^21\s*–"))
    expect(pager.get_by_role("button", name=T("pager.previous"))).to_be_enabled()
    pager.get_by_role("button", name=T("pager.previous")).click()
    expect(page_range).to_have_text(re.compile(r"^1\s*–"))

    # Find the target's page, deactivate them: they can no longer sign in.
    first = 1
    while not table.get_by_role("cell", name=target, exact=True).count():
        first += 20
        pager.get_by_role("button", name=T("pager.next")).click()
        expect(page_range).to_have_text(re.compile(rf"^{first}\s*–"))
    deactivate = page.get_by_role("button", name=T("users.deactivateLabel", email=target))
    deactivate.click()
    # It asks first, naming the account; Cancel is the default.
    dialog = page.get_by_role("dialog", name=T("users.confirmDeactivateTitle", email=target))
    expect(dialog.get_by_role("button", name=T("files.cancel"))).to_be_focused()
    dialog.get_by_role("button", name=T("users.deactivate")).click()
    expect(page.get_by_role("status")).to_have_text(T("users.deactivated", email=target))
    row = table.get_by_role("row").filter(has_text=target)
    expect(row).to_contain_text(T("users.inactive"))
    reactivate = page.get_by_role("button", name=T("users.reactivateLabel", email=target))
    expect(reactivate).to_be_focused()

    member, member_watch = open_page()
    member.goto(f"{site.url}/")
    member.get_by_label(T("signin.email")).fill(target)
    member.get_by_label(T("signin.password")).fill(PASSWORD)
    member.get_by_role("button", name=T("signin.submit")).click()
    expect(member.get_by_role("alert")).to_have_text(T("signin.inactive"))

    reactivate.click()
    expect(row).to_contain_text(T("users.active"))
    sign_in(member, site, target)
    watch.assert_clean()
    member_watch.assert_clean({("/api/auth/login", 403)})


def _admin_page(open_page, site: Site):
    T = site.T
    page, watch = open_page()
    sign_in(page, site, site.stack.env["FIRST_ADMIN_EMAIL"], site.stack.env["FIRST_ADMIN_PASSWORD"])
    page.get_by_role("link", name=T("nav.users")).click()
    expect(page.get_by_role("heading", level=1, name=T("users.title"))).to_be_focused()
    return page, watch


def _issued_link(page) -> str:
    link = page.get_by_test_id("issued-link")
    expect(link).to_have_value(re.compile(r"^https://.*/#/(join|reset)\?token=[\w-]+$"))
    return link.input_value()


def _find_row(page, site: Site, email: str):
    """The users table's row of `email`, paging forward until it shows."""
    T = site.T
    table = page.get_by_role("table", name=T("users.title"))
    expect(table).to_be_visible()
    pager = page.get_by_role("navigation", name=T("pager.users"))
    while not table.get_by_role("cell", name=email, exact=True).count():
        pager.get_by_role("button", name=T("pager.next")).click()
        page.wait_for_timeout(200)
    return table.get_by_role("row").filter(has_text=email)


def test_admin_invites_and_the_person_signs_up_through_the_link(open_page, site: Site):
    """The admin makes an invitation link; a person opens it in another browser and signs up."""
    T = site.T
    email = unique_email("invited")
    page, watch = _admin_page(open_page, site)
    invite_form = page.get_by_role("form", name=T("admin.inviteHeading"))
    invite_form.get_by_label(T("admin.email")).fill(email)
    invite_form.get_by_role("button", name=T("admin.invite")).click()
    url = _issued_link(page)
    screenshot(page, "12-admin-invitation")
    audit = page.get_by_role("table", name=T("audit.title"))
    expect(audit.get_by_role("row").nth(1)).to_contain_text(T("audit.action.invite"))
    expect(audit.get_by_role("row").nth(1)).to_contain_text(email)

    person, person_watch = open_page()
    person.goto(url)
    expect(person.get_by_role("heading", level=1, name=T("join.title"))).to_be_visible()
    expect(person.get_by_label(T("signup.email"))).to_have_value(email)  # filled in by the link
    person.get_by_label(T("signup.password"), exact=True).fill(PASSWORD)
    person.get_by_label(T("signup.confirm")).fill(PASSWORD)
    person.get_by_role("button", name=T("signup.submit")).click()
    expect(person.get_by_role("heading", level=1, name=T("files.title"))).to_be_visible()
    # People see their limits: space used and left, and the largest file accepted.
    expect(person.get_by_test_id("usage")).to_contain_text("1")
    expect(person.locator(".drop-max")).not_to_be_empty()

    # The same link a second time, in a fresh browser: the server's reason on arrival, and no
    # form to fill in for nothing.
    again, again_watch = open_page()
    again.goto(url)
    expect(again.get_by_role("heading", level=1, name=T("join.title"))).to_be_visible()
    expect(again.get_by_role("alert")).to_be_visible()
    expect(again.get_by_label(T("signup.password"), exact=True)).to_have_count(0)
    watch.assert_clean()
    person_watch.assert_clean()
    again_watch.assert_clean({("/api/auth/invitation", 400)})


def test_admin_resets_a_password_and_the_user_signs_in_with_the_new_one(open_page, site: Site):
    T = site.T
    email = unique_email("forgetful")
    site.register(email, PASSWORD)
    new_password = "marble otter lantern 58"
    page, watch = _admin_page(open_page, site)
    _find_row(page, site, email)
    page.get_by_role("button", name=T("users.resetLabel", email=email)).click()
    url = _issued_link(page)

    person, person_watch = open_page()
    person.goto(url)
    expect(person.get_by_role("heading", level=1, name=T("reset.title"))).to_be_visible()
    person.get_by_label(T("reset.email")).fill(email)
    person.get_by_label(T("reset.password"), exact=True).fill(new_password)
    person.get_by_label(T("signup.confirm")).fill(new_password)
    person.get_by_role("button", name=T("reset.submit")).click()
    expect(person.get_by_role("heading", level=1, name=T("signin.title"))).to_be_visible()
    expect(person.get_by_role("status")).to_have_text(T("reset.done"))
    assert_accessible(page, "admin: a reset link issued")
    assert_accessible(person, "sign-in after a reset")
    sign_in(person, site, email, new_password)
    watch.assert_clean()
    person_watch.assert_clean()


def test_admin_deletes_an_account_and_its_files_leave_storage(open_page, site: Site):
    """Real parts: the stack's storage folder is read to check that the files are gone."""
    T = site.T
    email = unique_email("leaving")
    site.register(email, PASSWORD)
    with site.api() as client:
        token = client.post(
            "/api/auth/login", data={"username": email, "password": PASSWORD}
        ).json()["access_token"]
        stored = []
        for n in range(2):
            response = client.post(
                "/api/upload",
                headers={"Authorization": f"Bearer {token}"},
                files={"file": (f"f{n}.bin", b"x" * 1000, "application/octet-stream")},
            )
            assert response.status_code == 201, response.text
            stored.append(response.json()["url"])
    storage_dir = site.stack.state_dir / "storage_data"
    before = {p for p in storage_dir.rglob("*") if p.is_file()}

    page, watch = _admin_page(open_page, site)
    row = _find_row(page, site, email)
    expect(row).to_contain_text(T("users.fileCount", count=2))
    page.get_by_role("button", name=T("users.deleteLabel", email=email)).click()
    dialog = page.get_by_role("dialog", name=T("users.confirmDeleteTitle", email=email))
    expect(dialog).to_contain_text(email)
    dialog.get_by_role("button", name=T("users.delete")).click()
    expect(page.get_by_role("status")).to_have_text(T("users.deletedAccount", email=email))
    assert_accessible(page, "admin: an account deleted")
    after = {p for p in storage_dir.rglob("*") if p.is_file()}
    assert len(before - after) == 2, before - after
    with site.api() as client:
        for url in stored:
            assert client.get(url).status_code in (403, 404)
        gone = client.post("/api/auth/login", data={"username": email, "password": PASSWORD})
        assert gone.status_code == 401
    watch.assert_clean()


def test_invite_mode_offers_no_sign_up_and_the_invitation_works(invite_site: Site, browser):
    """A stack rendered with the default answer registration=invite, in a browser of its own."""
    T = invite_site.T
    context = browser.new_context(ignore_https_errors=True)
    try:
        page = context.new_page()
        page.goto(f"{invite_site.url}/")
        expect(page.get_by_text(T("signin.noAccount.invite"))).to_be_visible()
        expect(page.get_by_role("link", name=T("signin.toSignup"))).to_have_count(0)
        assert_accessible(page, "sign-in, invitation only")
        page.goto(f"{invite_site.url}/#/signup")
        expect(page.get_by_role("status")).to_have_text(T("signin.noAccount.invite"))
        expect(page.get_by_label(T("signup.email"))).to_have_count(0)
        assert_accessible(page, "sign-up, invitation only")
        with invite_site.api() as client:
            refused = client.post(
                "/api/auth/register", json={"email": unique_email("x"), "password": PASSWORD}
            )
            assert refused.status_code == 403
            assert "invitation" in refused.json()["detail"]
            env = invite_site.stack.env
            token = client.post(
                "/api/auth/login",
                data={
                    "username": env["FIRST_ADMIN_EMAIL"],
                    "password": env["FIRST_ADMIN_PASSWORD"],
                },
            ).json()["access_token"]
            email = unique_email("guest")
            issued = client.post(
                "/api/invitations",
                headers={"Authorization": f"Bearer {token}"},
                json={"email": email},
            )
            assert issued.status_code == 201, issued.text
        page.goto(f"{invite_site.url}{issued.json()['path']}")
        # The page fills the invited address in once it has asked the server; typing over it
        # while that answer is on its way raced with it (fill's select-all, then the prefill).
        expect(page.get_by_label(T("signup.email"))).to_have_value(email)
        page.get_by_label(T("signup.password"), exact=True).fill(PASSWORD)
        page.get_by_label(T("signup.confirm")).fill(PASSWORD)
        page.get_by_role("button", name=T("signup.submit")).click()
        expect(page.get_by_role("heading", level=1, name=T("files.title"))).to_be_visible()
    finally:
        context.close()


def test_users_page_is_for_admins_only(open_page, site: Site):
    T = site.T
    page, watch = open_page()
    email = unique_email("plain")
    site.register(email, PASSWORD)
    sign_in(page, site, email)
    expect(page.get_by_role("link", name=T("nav.users"))).to_have_count(0)
    page.goto(f"{site.url}/#/users")
    expect(page.get_by_role("heading", level=1, name=T("error.notFoundPage"))).to_be_visible()
    assert_accessible(page, "page not found")
    watch.assert_clean()


def test_keyboard_only_sign_in_and_upload(open_page, site: Site):
    """Tab order, visible focus and Enter are enough to sign in and reach the upload control."""
    T = site.T
    page, watch = open_page()
    email = unique_email("keyboard")
    site.register(email, PASSWORD)
    page.goto(f"{site.url}/")
    expect(page.get_by_label(T("signin.email"))).to_be_focused()  # autofocus
    page.keyboard.type(email)
    page.keyboard.press("Tab")
    expect(page.get_by_label(T("signin.password"))).to_be_focused()
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    heading = page.get_by_role("heading", level=1, name=T("files.title"))
    expect(heading).to_be_focused()

    # From the top of the page: the skip link first, then the navigation, then the upload control;
    # every focused element shows an outline.
    page.reload()
    expect(heading).to_be_visible()
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name=T("app.skipToContent"))).to_be_focused()
    outlines = []
    for _ in range(8):
        page.keyboard.press("Tab")
        outlines.append(
            page.evaluate(
                "() => { const s = getComputedStyle(document.activeElement);"
                " return [document.activeElement.tagName, s.outlineStyle, s.outlineWidth]; }"
            )
        )
        if outlines[-1][0] == "INPUT":
            break
    assert outlines[-1][0] == "INPUT", f"the file picker is not reachable by Tab: {outlines}"
    assert all(style != "none" and width != "0px" for _, style, width in outlines), outlines
    screenshot(page, "12-keyboard-focus")
    watch.assert_clean()


def test_every_input_has_a_label(open_page, site: Site):
    T = site.T
    page, watch = open_page()
    unlabelled = (
        "() => [...document.querySelectorAll('input, button, select, textarea')]"
        ".filter(e => !e.hidden && !e.labels?.length && !e.getAttribute('aria-label')"
        " && !e.textContent.trim())"
        ".map(e => e.outerHTML)"
    )
    page.goto(f"{site.url}/#/signup")
    expect(page.get_by_role("heading", level=1, name=T("signup.title"))).to_be_visible()
    assert page.evaluate(unlabelled) == []
    email = unique_email("labels")
    site.register(email, PASSWORD)
    sign_in(page, site, email)
    for route, title in (("files", "files.title"), ("profile", "profile.title")):
        page.goto(f"{site.url}/#/{route}")
        expect(page.get_by_role("heading", level=1, name=T(title))).to_be_visible()
        assert page.evaluate(unlabelled) == [], route
        assert_accessible(page, route)
    watch.assert_clean()


def test_phone_layout(open_page, site: Site):
    """At 360 px nothing overflows sideways and the main controls stay on screen."""
    T = site.T
    page, watch = open_page(width=360, height=740)
    email = unique_email("phone")
    site.register(email, PASSWORD)
    page.goto(f"{site.url}/")
    expect(page.get_by_role("heading", level=1, name=T("signin.title"))).to_be_visible()
    screenshot(page, "13-phone-sign-in")
    sign_in(page, site, email)
    page.locator("input[type=file]").set_input_files(
        [
            {
                "name": "a-rather-long-file-name-for-a-small-screen.png",
                "mimeType": "image/png",
                "buffer": png_bytes(),
            }
        ]
    )
    expect(page.locator(".file-card")).to_have_count(1)
    for route in ("files", "profile"):
        page.goto(f"{site.url}/#/{route}")
        page.wait_for_load_state("networkidle")
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"#{route} is {overflow}px wider than the phone screen"
        screenshot(page, f"14-phone-{route}")
    # Sign out is in the header's menu, on screen once the menu is open.
    page.get_by_role("button", name=T("nav.menu")).click()
    expect(page.get_by_role("button", name=T("nav.signOut"))).to_be_in_viewport()
    screenshot(page, "14-phone-menu")
    watch.assert_clean()


def test_two_tabs_reloaded_together_stay_signed_in(open_page, site: Site):
    """Tabs share the rotating refresh cookie: reloading them at once must not end the session."""
    T = site.T
    email = unique_email("tabs")
    site.register(email, PASSWORD)
    first, watch = open_page()
    sign_in(first, site, email)
    expect(first.get_by_role("heading", level=1, name=T("files.title"))).to_be_visible()
    second = first.context.new_page()
    second.on("console", watch.on_console)
    second.on("pageerror", watch.on_page_error)
    for _ in range(3):  # both tabs refresh at the same moment on every round
        second.goto("about:blank")
        first.evaluate("() => setTimeout(() => location.reload(), 0)")
        second.goto(f"{site.url}/")
        for page in (first, second):
            expect(page.get_by_role("heading", level=1, name=T("files.title"))).to_be_visible()
    watch.assert_clean()
