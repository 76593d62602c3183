"""A first visit, request by request (Debian's Chromium, Playwright, the shared stack): every
file of the site is fetched once, from the page load until the signed-in pages have been shown.

The tab icon used to be fetched twice (Chromium fetches a file icon again when the app replaces
the address with #/signin); a module imported twice under two addresses, or a view fetched again
at each visit of its page, would show here too.
"""

from __future__ import annotations

from collections import Counter
from urllib.parse import urlparse

import pytest
from playwright.sync_api import Request, expect
from support.browser import PASSWORD, Site, make_site, unique_email

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]


@pytest.fixture(scope="module")
def site(stack) -> Site:
    return make_site(stack)


def static_files(requests: list[Request], site: Site) -> Counter:
    """How many times each file of the site (not the API) was asked for."""
    paths = Counter()
    for request in requests:
        if not request.url.startswith(site.url):
            continue  # data: URLs (the tab icon) never reach the network
        path = urlparse(request.url).path
        if not path.startswith("/api/"):
            paths[path] += 1
    return paths


def test_a_first_visit_fetches_every_file_once(open_page, site: Site):
    T = site.T
    email = unique_email("first-visit")
    site.register(email, PASSWORD)
    page, watch = open_page()
    requests: list[Request] = []
    page.on("request", lambda request: requests.append(request))

    page.goto(f"{site.url}/")
    expect(page.get_by_role("heading", level=1, name=T("signin.title"))).to_be_visible()
    page.wait_for_load_state("networkidle")  # the signed-in pages' modules, fetched after the form
    first = static_files(requests, site)
    assert {"/", "/js/main.js", "/js/views/files.js", "/css/app.css"} <= set(first), first
    assert [path for path, count in first.items() if count > 1] == [], first
    # The session was asked about once, while the page loaded.
    probes = [r for r in requests if urlparse(r.url).path == "/api/auth/session"]
    assert len(probes) == 1

    # Signing in and showing every page of a user fetches no file again.
    page.get_by_label(T("signin.email")).fill(email)
    page.get_by_label(T("signin.password")).fill(PASSWORD)
    page.get_by_role("button", name=T("signin.submit")).click()
    expect(page.get_by_role("heading", level=1, name=T("files.title"))).to_be_visible()
    page.get_by_role("link", name=T("nav.profile")).click()
    expect(page.get_by_role("heading", level=1, name=T("profile.title"))).to_be_visible()
    page.go_back()
    expect(page.get_by_role("heading", level=1, name=T("files.title"))).to_be_visible()
    page.wait_for_load_state("networkidle")
    assert static_files(requests, site) == first
    watch.assert_clean()
