"""The file list at scale in a real browser: 200 files, pages, search and sort kept in the URL
(reload, Back, a shared link), previews of an image and a PDF, one tab stop per file.

Debian's Chromium (Playwright) against the session's stack (French), booted by the native runner
and reached through the edge nginx over HTTPS: the real backend and PostgreSQL answer the
searches and sorts, the real storage serves the files under its sandbox policy. The 200 files are
uploaded through the API (the UI's upload is tested in test_browser.py), each test runs at
1280×800 and at 390×844, every state is checked by axe-core and saved under
test-artifacts/screenshots/, and every page is watched for console errors and CSP violations.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from playwright.sync_api import Page, expect
from support.browser import (
    PASSWORD,
    SCREENSHOTS,
    Site,
    assert_accessible,
    make_site,
    png_bytes,
    sign_in,
    unique_email,
)
from support.project import Stack

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

SIZES = {"desktop": (1280, 800), "phone": (390, 844)}
PAGE_SIZE = 24  # the files page's (files.js)
LONG_NAME = (
    "compte-rendu-de-la-réunion-du-conseil-d-administration-du-14-mars-2025-version-finale.docx"
)
# A one-page PDF that Chromium's viewer shows ("Bonjour PDF").
PDF_BYTES = b"\n".join(
    [
        b"%PDF-1.4",
        b"1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj",
        b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj",
        b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 300 200]/Contents 4 0 R"
        b"/Resources<</Font<</F1 5 0 R>>>>>>endobj",
        b"4 0 obj<</Length 46>>stream",
        b"BT /F1 24 Tf 50 100 Td (Bonjour PDF) Tj ET",
        b"endstream endobj",
        b"5 0 obj<</Type/Font/Subtype/Type1/BaseFont/Helvetica>>endobj",
        b"trailer<</Root 1 0 R>>",
        b"",
    ]
)


@pytest.fixture(scope="session")
def site(stack: Stack) -> Site:
    return make_site(stack)


@dataclass
class Owner:
    """A user with 200 files, and the API as that user (to know what each list must show)."""

    site: Site
    email: str
    token: str

    def names(self, **query: str | int) -> tuple[list[str], int]:
        context = ssl.create_default_context(cafile=self.site.ca_file)
        with httpx.Client(base_url=self.site.url, verify=context, timeout=30) as client:
            response = client.get(
                "/api/files",
                params={"limit": PAGE_SIZE, **query},
                headers={"Authorization": f"Bearer {self.token}"},
            )
        assert response.status_code == 200, response.text
        page = response.json()
        return [item["name"] for item in page["items"]], page["total"]


def file_names() -> list[tuple[str, bytes, str]]:
    """200 files of different names, types and sizes (name, bytes, type)."""
    files = [
        ("photo-des-vacances.png", png_bytes(320, 200), "image/png"),
        ("Facture-Mars-2025.pdf", PDF_BYTES, "application/pdf"),
        (LONG_NAME, b"d" * 4000, "application/octet-stream"),
    ]
    for index in range(197):
        kind = ("facture", "rapport", "notes", "budget")[index % 4]
        files.append((f"{kind}-{index:03d}.txt", b"x" * (100 + index * 37 % 5000), "text/plain"))
    return files


@pytest.fixture(scope="module")
def owner(site: Site) -> Owner:
    email = unique_email("files200")
    site.register(email, PASSWORD)
    with site.api() as client:
        login = client.post("/api/auth/login", data={"username": email, "password": PASSWORD})
        assert login.status_code == 200, login.text
        token = login.json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        for name, data, content_type in file_names():
            response = client.post(
                "/api/upload", headers=headers, files={"file": (name, data, content_type)}
            )
            assert response.status_code == 201, response.text
    return Owner(site, email, token)


def record(page: Page, name: str) -> None:
    """axe-core finds nothing in this state; then a screenshot of it for people to look at."""
    assert_accessible(page, name)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def url_query(page: Page) -> dict[str, str]:
    fragment = urlparse(page.url).fragment
    assert fragment.startswith("/files"), page.url
    return {key: values[0] for key, values in parse_qs(urlparse(fragment).query).items()}


def rows(page: Page):
    return page.locator(".file-list > li")


def shown_names(page: Page) -> list[str]:
    return rows(page).locator("a.file-name").all_inner_texts()


def expect_range(page: Page, site: Site, first: int, total: int) -> None:
    """The pager says which files of how many are shown, once the list has loaded."""
    last = min(first + PAGE_SIZE - 1, total)
    pager = page.get_by_role("navigation", name=site.T("pager.files"))
    expect(pager.locator(".pager-range")).to_have_text(
        site.T("pager.range", first=first, last=last, total=total)
    )
    expect(page.locator(".file-list-region[aria-busy]")).to_have_count(0)


def open_files(page: Page, site: Site, owner: Owner) -> None:
    sign_in(page, site, owner.email)
    expect(page.get_by_text(site.T("files.count", count=200))).to_be_visible()


@pytest.mark.parametrize("size", SIZES, ids=list(SIZES))
def test_200_files_pages_search_and_sort_live_in_the_url(open_page, site: Site, owner: Owner, size):
    """Pages, reload, Back and Forward, sort both ways, search, a shared link: what the URL says
    is what the list shows, and it matches what the API answers for the same query."""
    T = site.T
    page, watch = open_page(*SIZES[size])
    open_files(page, site, owner)
    expect(rows(page)).to_have_count(PAGE_SIZE)
    expect_range(page, site, 1, 200)
    assert shown_names(page) == owner.names()[0]  # newest first
    # The long name is whole on screen, wrapped rather than cut, and nothing scrolls sideways.
    page.goto(f"{site.url}/#/files?q=compte-rendu")
    long_link = page.get_by_role("link", name=LONG_NAME, exact=True)
    expect(long_link).to_be_visible()
    # Whole: the row's text box holds it without clipping (it wraps on a phone).
    assert long_link.evaluate(
        "a => { const box = a.parentElement; return box.scrollWidth <= box.clientWidth"
        " && a.getBoundingClientRect().right <= window.innerWidth; }"
    )
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    record(page, f"60-files-long-name-{size}")

    # Page 3 by the pager's links, then reload: still page 3; Back: page 2; Forward: page 3.
    page.goto(f"{site.url}/#/files")
    expect_range(page, site, 1, 200)
    record(page, f"61-files-page-1-{size}")
    pager = page.get_by_role("navigation", name=T("pager.files"))
    pager.get_by_role("link", name=T("pager.next")).click()
    expect_range(page, site, 25, 200)
    expect(page.locator("#files-heading")).to_be_focused()  # the new page starts at its heading
    pager.get_by_role("link", name=T("pager.next")).click()
    expect_range(page, site, 49, 200)
    assert url_query(page) == {"page": "3"}
    page_three = owner.names(offset=48)[0]
    assert shown_names(page) == page_three
    page.reload()
    expect_range(page, site, 49, 200)
    assert shown_names(page) == page_three
    expect(page.get_by_text(T("pager.page", page=3, pages=9))).to_be_visible()
    record(page, f"62-files-page-3-after-reload-{size}")
    page.go_back()
    expect_range(page, site, 25, 200)
    assert url_query(page) == {"page": "2"}
    page.go_forward()
    expect_range(page, site, 49, 200)
    pager.get_by_role("link", name=T("pager.last")).click()
    expect_range(page, site, 193, 200)
    expect(rows(page)).to_have_count(8)

    # Sort: by name both ways, by size both ways; each from page 1, in the URL.
    sort = page.get_by_label(T("files.sortLabel"))
    for label, sort_key, order in (
        ("files.sortNameAsc", "name", "asc"),
        ("files.sortNameDesc", "name", "desc"),
        ("files.sortLargest", "size", "desc"),
        ("files.sortSmallest", "size", "asc"),
    ):
        sort.select_option(label=T(label))
        expected = owner.names(sort=sort_key, order=order)[0]
        expect(rows(page).locator("a.file-name").first).to_have_text(expected[0])
        expect_range(page, site, 1, 200)
        assert shown_names(page) == expected
        assert url_query(page) == {"sort": sort_key, "order": order}
    record(page, f"63-files-sorted-smallest-first-{size}")
    page.go_back()  # Back undoes a sort too
    expect(sort).to_have_value("size:desc")
    expect(rows(page).locator("a.file-name").first).to_have_text(
        owner.names(sort="size", order="desc")[0][0]
    )

    # Search as people type it (any case), kept with the sort; a search with no match says so.
    search = page.get_by_label(T("files.searchLabel"))
    search.fill("FACTURE")
    matches, count = owner.names(q="facture", sort="size", order="desc")
    expect(page.locator("#files-heading .count")).to_have_text(
        T("files.matches", count=count, q="FACTURE")
    )
    assert url_query(page) == {"sort": "size", "order": "desc", "q": "FACTURE"}
    expect(rows(page).locator("a.file-name").first).to_have_text(matches[0])
    assert shown_names(page) == matches
    assert all("facture" in name.lower() for name in shown_names(page))
    expect(search).to_be_focused()  # typing is never interrupted by the list loading
    record(page, f"64-files-search-{size}")
    search.fill("introuvable")
    expect(page.get_by_text(T("files.noMatch", q="introuvable"))).to_be_visible()
    record(page, f"65-files-search-nothing-{size}")
    page.get_by_role("button", name=T("files.clearSearch")).click()
    expect_range(page, site, 1, 200)
    expect(search).to_have_value("")

    # A link someone sent: page 2 of the notes, smallest first.
    page.goto(f"{site.url}/#/files?page=2&sort=size&order=asc&q=notes")
    expected, count = owner.names(q="notes", sort="size", order="asc", offset=PAGE_SIZE)
    expect_range(page, site, 25, count)
    assert shown_names(page) == expected
    expect(sort).to_have_value("size:asc")
    expect(search).to_have_value("notes")
    # A page past the end (files deleted since the link was made) shows the last page instead.
    last_page = (count - 1) // PAGE_SIZE + 1
    page.goto(f"{site.url}/#/files?page=99&q=notes")
    expect_range(page, site, (last_page - 1) * PAGE_SIZE + 1, count)
    assert url_query(page) == {"page": str(last_page), "q": "notes"}
    watch.assert_clean()


@pytest.mark.parametrize("size", SIZES, ids=list(SIZES))
def test_images_and_pdfs_open_in_the_page_other_files_download(
    open_page, site: Site, owner: Owner, size
):
    T = site.T
    page, watch = open_page(*SIZES[size])
    open_files(page, site, owner)

    page.goto(f"{site.url}/#/files?q=photo-des-vacances")
    link = page.get_by_role("link", name="photo-des-vacances.png", exact=True)
    link.click()
    dialog = page.get_by_role("dialog", name="photo-des-vacances.png")
    expect(dialog).to_be_visible()
    image = dialog.get_by_role("img", name="photo-des-vacances.png")
    page.wait_for_function(
        "img => img.complete && img.naturalWidth === 320", arg=image.element_handle()
    )
    expect(dialog.get_by_role("button", name=T("preview.close"))).to_be_focused()
    record(page, f"66-preview-image-{size}")
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)
    expect(link).to_be_focused()  # back where the user was

    page.goto(f"{site.url}/#/files?q=Facture-Mars")
    link = page.get_by_role("link", name="Facture-Mars-2025.pdf", exact=True)
    link.click()
    dialog = page.get_by_role("dialog", name="Facture-Mars-2025.pdf")
    frame = dialog.locator("iframe")
    expect(frame).to_have_attribute("title", T("preview.pdfTitle", name="Facture-Mars-2025.pdf"))
    # Chromium's PDF viewer runs in the frame: the PDF is shown, not downloaded, not refused.
    viewer = None
    for _ in range(50):
        viewer = next((f for f in page.frames if f.url.startswith("chrome-extension://")), None)
        if viewer:
            break
        page.wait_for_timeout(100)
    assert viewer is not None, [f.url for f in page.frames]
    record(page, f"67-preview-pdf-{size}")
    dialog.get_by_role("button", name=T("preview.close")).click()
    expect(dialog).to_have_count(0)

    # Other types download under their own name, from one click on the name.
    page.goto(f"{site.url}/#/files?q=notes-002")
    with page.expect_download() as download:
        page.get_by_role("link", name="notes-002.txt", exact=True).click()
    assert download.value.suggested_filename == "notes-002.txt"
    watch.assert_clean()


@pytest.mark.parametrize("size", SIZES, ids=list(SIZES))
def test_each_file_is_one_tab_stop_plus_its_delete_button(
    open_page, site: Site, owner: Owner, size
):
    """Tab walks the list file by file: the name (preview or download), then Delete; Enter on an
    image's name opens its preview."""
    T = site.T
    page, watch = open_page(*SIZES[size])
    open_files(page, site, owner)
    page.goto(f"{site.url}/#/files?sort=name&order=asc")
    expect_range(page, site, 1, 200)
    page.get_by_label(T("files.sortLabel")).focus()
    stops = []
    for _ in range(PAGE_SIZE * 2 + 1):
        page.keyboard.press("Tab")
        stops.append(
            page.evaluate(
                "() => { const e = document.activeElement;"
                " return [e.closest('.file-list > li')?.dataset.fileId ?? null, e.tagName,"
                " e.textContent]; }"
            )
        )
    in_list = stops[: PAGE_SIZE * 2]
    ids = [file_id for file_id, _, _ in in_list]
    assert None not in ids, in_list
    assert [tag for _, tag, _ in in_list] == ["A", "BUTTON"] * PAGE_SIZE, in_list
    assert all(ids[i] == ids[i + 1] for i in range(0, len(ids), 2)), "a file has two stops"
    assert len(set(ids)) == PAGE_SIZE
    assert stops[-1][0] is None  # then the pager
    record(page, f"68-files-keyboard-{size}")

    page.goto(f"{site.url}/#/files?q=photo-des-vacances")
    link = page.get_by_role("link", name="photo-des-vacances.png", exact=True)
    link.focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="photo-des-vacances.png")
    expect(dialog).to_be_visible()
    page.emulate_media(color_scheme="dark")  # the list and its preview in the dark scheme
    record(page, f"69-preview-image-dark-{size}")
    page.keyboard.press("Escape")
    expect(link).to_be_focused()
    page.goto(f"{site.url}/#/files?page=2&sort=name&order=desc")
    expect_range(page, site, 25, 200)
    record(page, f"69-files-dark-{size}")
    watch.assert_clean()


def test_a_bad_query_in_the_url_shows_the_default_list(open_page, site: Site, owner: Owner):
    """A hand-edited URL cannot break the page: unknown values fall back to the defaults."""
    page, watch = open_page()
    open_files(page, site, owner)
    page.goto(f"{site.url}/#/files?page=abc&sort=colour&order=up")
    expect_range(page, site, 1, 200)
    assert shown_names(page) == owner.names()[0]
    expect(page.get_by_label(site.T("files.sortLabel"))).to_have_value("date:desc")
    watch.assert_clean()
