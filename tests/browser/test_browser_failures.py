"""The frontend's failure states and drag and drop in a real browser, on a stack of this module.

Debian's Chromium (Playwright) against a stack booted by the native runner, rendered in English
(`ui_language="en"`) with a 1 MB quota per user: the storage service is killed and restarted, a
user runs out of quota, files are dropped on the drop zone. Every message is asserted by its key
in i18n/en.js, so a test fails if the user is shown the wrong words, or none. Each test makes its
own user. Screenshots of the failure states go to test-artifacts/screenshots/.
"""

from __future__ import annotations

import hashlib
import os
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from support.browser import (
    PASSWORD,
    Site,
    assert_accessible,
    make_site,
    read_messages,
    screenshot,
    sign_in,
    throttle_uploads,
    unique_email,
)
from support.project import Stack, boot_stack, in_site_language

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

QUOTA_MB = 1
IS_ERROR = re.compile(r"\bis-error\b")
IS_DRAGGING = re.compile(r"\bis-dragging\b")


@pytest.fixture(scope="module")
def own_stack(session_tmp: Path) -> Iterator[Stack]:
    """English, 1 MB per user; the storage test kills and restarts its storage service."""
    booted = boot_stack(
        session_tmp / "browser-failures",
        # Every test signs up and in from 127.0.0.1: more than the default 10 a minute.
        settings={"USER_QUOTA_MB": str(QUOTA_MB), "AUTH_RATE_PER_MINUTE": "600"},
        ui_language="en",
    )
    yield booted
    booted.down()


@pytest.fixture(scope="module")
def site(own_stack: Stack) -> Site:
    return make_site(own_stack)


def signed_in_page(open_page, site: Site, prefix: str):
    page, watch = open_page()
    email = unique_email(prefix)
    site.register(email, PASSWORD)
    sign_in(page, site, email)
    return page, watch, email


def part_way(T, total: str) -> re.Pattern:
    """The progress text of a file of `total` (as shown) between 1 % and 99 %: "96 kB of 200 kB
    (48%)" in English (French puts a no-break space before the sign)."""
    text = re.escape(T("upload.progress", loaded="LOADED", total=total, percent="PERCENT"))
    percent = r"([1-9]|[1-9]\d)[\u00a0\u202f]?%"
    return re.compile(f"^{text}$".replace("LOADED", r"\d.*").replace("PERCENT", percent))


def a_file(name: str, size: int, mime: str = "application/octet-stream") -> dict:
    return {"name": name, "mimeType": mime, "buffer": os.urandom(size)}


def pick(page: Page, *files: dict) -> None:
    """What the file picker does when the user chooses `files`."""
    page.locator("input[type=file]").set_input_files(list(files))


def wait_until_dead(pid: int, timeout: float = 10) -> None:
    """Until `pid` is gone or a zombie (the runner's `up` has exited: init reaps it)."""
    deadline = time.monotonic() + timeout
    stat = Path(f"/proc/{pid}/stat")
    while time.monotonic() < deadline:
        try:
            if stat.read_text().rsplit(")", 1)[1].split()[0] == "Z":
                return
        except (FileNotFoundError, ProcessLookupError):
            return
        time.sleep(0.05)
    raise AssertionError(f"process {pid} still alive {timeout} s after SIGKILL")


def test_storage_down_is_explained_then_the_same_upload_works(open_page, site: Site):
    T, stack = site.T, site.stack
    page, watch, _ = signed_in_page(open_page, site, "outage")
    cards = page.locator(".file-card")
    pick(page, a_file("before.txt", 2_000, "text/plain"))
    expect(cards).to_have_count(1)

    retried = a_file("during-outage.bin", 900_000)  # most of the 1 MB quota
    storage_pid = stack.refresh()["services"]["storage"]["pid"]
    os.kill(storage_pid, signal.SIGKILL)
    try:
        wait_until_dead(storage_pid)
        pick(page, retried)
        row = page.locator(".upload-row", has_text="during-outage.bin")
        expect(row).to_have_class(IS_ERROR)
        # The backend's own sentence: the storage is what is down.
        storage_down = in_site_language(
            stack,
            fr="Le service de stockage des fichiers est indisponible : réessayez dans un instant.",
            en="The file storage service is unavailable; try again in a moment.",
        )
        expect(row.locator(".upload-message")).to_have_text(storage_down)
        expect(row.locator(".upload-message")).to_be_visible()
        # The list the user sees is the one from before: nothing added, nothing lost.
        expect(cards).to_have_count(1)
        expect(cards).to_contain_text("before.txt")
        expect(page.get_by_text(T("files.countOne", count=1))).to_be_visible()
        screenshot(page, "20-upload-storage-down")
        row.get_by_role("button", name=T("upload.dismiss")).click()
        expect(row).to_have_count(0)
    finally:
        stack.up()  # starts what is not running: storage
    assert stack.status["services"]["storage"]["healthy"], stack.status

    # The user picks the same file again: this time it is stored and listed.
    pick(page, retried)
    row = page.locator(".upload-row", has_text="during-outage.bin")
    expect(row.locator(".upload-progress-text")).to_have_text(T("upload.done"))
    expect(cards).to_have_count(2)
    expect(page.locator(".file-card", has_text="during-outage.bin")).to_be_visible()
    # The server agrees: the failed attempt left no file behind.
    page.reload()
    expect(cards).to_have_count(2)
    expect(page.get_by_text(T("files.count", count=2))).to_be_visible()
    assert_accessible(page, "files after the storage came back")

    # With the backend stopped, the edge answers for it: the row says the service is down, in the
    # edge's words, and does not blame the storage.
    backend_pid = stack.refresh()["services"]["backend"]["pid"]
    os.killpg(
        backend_pid, signal.SIGKILL
    )  # its workers too (the runner starts it in a group of its own)
    try:
        wait_until_dead(backend_pid)
        pick(page, a_file("backend-down.txt", 1_000, "text/plain"))
        row = page.locator(".upload-row", has_text="backend-down.txt")
        expect(row).to_have_class(IS_ERROR)
        service_down = in_site_language(
            stack,
            fr="Le service est indisponible un instant : réessayez bientôt.",
            en="The service is unavailable for a moment: try again shortly.",
        )
        expect(row.locator(".upload-message")).to_have_text(service_down)
    finally:
        stack.up()
    watch.assert_clean({("/api/upload", 503)})


def test_over_quota_is_explained(open_page, site: Site):
    T = site.T
    page, watch, _ = signed_in_page(open_page, site, "quota")
    cards = page.locator(".file-card")
    # 1 MB (MiB) for this user: the first file fits, the second would go past the quota.
    pick(page, a_file("fits.bin", 600_000))
    expect(page.locator(".upload-row", has_text="fits.bin")).to_contain_text(T("upload.done"))
    expect(cards).to_have_count(1)

    # 0.6 MB used of 1 MB: the figures add up, and the page refuses a file that would not fit
    # before sending a byte of it, saying what is left in the same words.
    expect(page.get_by_test_id("usage")).to_have_text(
        T("files.usage", used="0.6 MB", quota="1 MB", left="0.4 MB")
    )
    uploads = []
    page.on(
        "request", lambda request: uploads.append(request) if "/api/upload" in request.url else None
    )
    pick(page, a_file("one-too-many.bin", 600_000))
    row = page.locator(".upload-row", has_text="one-too-many.bin")
    expect(row).to_have_class(IS_ERROR)
    expect(row.locator(".upload-message")).to_have_text(
        T("upload.overQuota", size="600 kB", left="0.4 MB")
    )
    assert uploads == [], "the file was sent"
    expect(row.locator(".upload-message")).to_be_visible()
    expect(cards).to_have_count(1)
    screenshot(page, "21-upload-over-quota")
    page.reload()
    expect(cards).to_have_count(1)
    expect(cards).to_contain_text("fits.bin")
    watch.assert_clean()


# Builds, in the page, a DataTransfer holding File objects, as the browser hands it to a drop.
MAKE_DATA_TRANSFER = """(files) => {
  const transfer = new DataTransfer();
  for (const { name, size, fill, type } of files) {
    transfer.items.add(new File([new Uint8Array(size).fill(fill)], name, { type }));
  }
  return transfer;
}"""


def test_drag_and_drop_two_files(open_page, site: Site):
    T = site.T
    page, watch, email = signed_in_page(open_page, site, "drop")
    dropped = [
        {"name": "dropped-one.bin", "size": 200_000, "fill": 1, "type": "application/octet-stream"},
        {"name": "dropped-two.txt", "size": 150_000, "fill": 97, "type": "text/plain"},
    ]
    transfer = page.evaluate_handle(MAKE_DATA_TRANSFER, dropped)
    zone = page.locator(".drop-zone")
    expect(zone).to_contain_text(T("files.dropTitle"))
    style = "(el, property) => getComputedStyle(el)[property]"
    resting = zone.evaluate(style, "backgroundColor")
    primary = zone.locator(".link-like").evaluate(style, "color")  # the theme's primary colour

    # Dragging over the zone lights it up; leaving it puts it back.
    zone.dispatch_event("dragenter", {"dataTransfer": transfer})
    expect(zone).to_have_class(IS_DRAGGING)
    zone.dispatch_event("dragleave", {"dataTransfer": transfer})
    expect(zone).not_to_have_class(IS_DRAGGING)
    zone.dispatch_event("dragenter", {"dataTransfer": transfer})
    zone.dispatch_event("dragover", {"dataTransfer": transfer})
    expect(zone).to_have_class(IS_DRAGGING)
    # A cue the user sees, not only a class: a primary-coloured border on a tinted background.
    expect(zone).to_have_css("border-top-color", primary)
    assert zone.evaluate(style, "backgroundColor") != resting
    screenshot(page, "22-drop-zone-hover")

    # A drop that misses the zone is refused, or the browser would open the file instead of the app.
    missed = page.evaluate(
        "(dt) => !document.querySelector('header').dispatchEvent("
        "new DragEvent('drop', {dataTransfer: dt, bubbles: true, cancelable: true}))",
        transfer,
    )
    assert missed is True, "a file dropped outside the zone would replace the app"
    expect(page.locator(".upload-row")).to_have_count(0)

    throttle_uploads(page, 128 * 1024)  # slow enough to see both rows progress
    zone.dispatch_event("drop", {"dataTransfer": transfer})
    expect(zone).not_to_have_class(IS_DRAGGING)
    rows = page.locator(".upload-row")
    expect(rows).to_have_count(2)
    for file in dropped:
        row = rows.filter(has_text=file["name"])
        expect(row.locator("progress")).to_be_attached()
        expect(
            row.get_by_role("button", name=T("upload.cancelLabel", name=file["name"]))
        ).to_be_visible()
    # Part-way, in the file's own size (the list shows the same size once it is stored).
    expect(rows.first.locator(".upload-progress-text")).to_have_text(part_way(T, "200 kB"))
    screenshot(page, "23-drop-uploading")
    for file in dropped:
        row = rows.filter(has_text=file["name"])
        expect(row.locator(".upload-progress-text")).to_have_text(T("upload.done"))
    throttle_uploads(page, -1)

    cards = page.locator(".file-card")
    expect(cards).to_have_count(2)
    for file in dropped:
        expect(cards.filter(has_text=file["name"])).to_be_visible()
    expect(page.get_by_text(T("files.count", count=2))).to_be_visible()
    # The bytes built in the page are the bytes stored.
    with site.api() as client:
        token = client.post("/api/auth/login", data={"username": email, "password": PASSWORD})
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        stored = {f["name"]: f for f in client.get("/api/files", headers=headers).json()["items"]}
    for file in dropped:
        content = bytes([file["fill"]]) * file["size"]
        assert stored[file["name"]]["sha256"] == hashlib.sha256(content).hexdigest()
    assert_accessible(page, "files after a drop")
    watch.assert_clean()


def test_english_journey(open_page, site: Site):
    """Sign in, upload, see the file: in English, with no French string left on screen."""
    T = site.T
    assert T.language == "en"
    french = read_messages("fr")
    page, watch = open_page()
    email = unique_email("english")
    site.register(email, PASSWORD)
    page.goto(f"{site.url}/")
    assert page.evaluate("document.documentElement.lang") == "en"
    expect(page.get_by_role("heading", level=1, name=T("signin.title"))).to_be_visible()
    expect(page.get_by_text(T("signin.intro"))).to_be_visible()
    expect(page.get_by_role("button", name=T("signin.submit"))).to_be_visible()
    sign_in(page, site, email)
    expect(page.get_by_text(T("files.empty"))).to_be_visible()
    expect(page.locator(".drop-zone")).to_contain_text(T("files.dropTitle"))
    expect(page.get_by_role("button", name=T("nav.signOut"))).to_be_visible()

    pick(page, a_file("report.pdf", 250_000, "application/pdf"))
    row = page.locator(".upload-row", has_text="report.pdf")
    expect(row.locator(".upload-progress-text")).to_have_text(T("upload.done"))
    card = page.locator(".file-card", has_text="report.pdf")
    expect(card).to_be_visible()
    expect(card).to_contain_text("250 kB")  # the English unit ("250 ko" in French)
    expect(page.get_by_text(T("files.countOne", count=1))).to_be_visible()
    text = page.locator("body").inner_text()
    for key in ("files.title", "files.dropTitle", "nav.signOut", "files.delete"):
        assert french[key] not in text, f"French {key!r} on the English page"
    screenshot(page, "24-english-files")
    watch.assert_clean()
