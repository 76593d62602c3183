"""Helpers for the browser tests: Debian's Chromium driven by Playwright, watched for errors.

Every page opened through `open_page` records console errors, uncaught exceptions and CSP
violations; `Watch.assert_clean()` fails the test on any of them, except failed HTTP answers
the test expects (a 401 for a wrong password is the point of that test).

Fixtures (conftest.py imports them for every module): `browser`, one Chromium for the whole
session (Playwright's sync API cannot run two instances at once in one thread, so the browser
modules share it), and `open_page`, which uses the `site` fixture each browser module defines for
the stack it drives.
"""

from __future__ import annotations

import json
import re
import ssl
import struct
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from support.project import REPO_ROOT, Stack
from support.waiting import wait_for

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
SCREENSHOTS = REPO_ROOT / "test-artifacts" / "screenshots"
FRONTEND_PUBLIC = REPO_ROOT / "template" / "{{ project_slug }}" / "frontend" / "public"
PASSWORD = "correct horse battery"
# Chromium reports every non-2xx answer as "Failed to load resource: … status of 401 (…)".
FAILED_RESOURCE = re.compile(r"Failed to load resource: .* status of (\d+)")
# Reports CSP violations through the console, where `Watch` sees them (runs before the app).
CSP_LISTENER = """
document.addEventListener('securitypolicyviolation', (event) => {
  console.error(`CSP violation: ${event.violatedDirective} blocked ${event.blockedURI}`);
});
"""


def read_messages(language: str) -> dict[str, str]:
    """The UI strings of public/i18n/<language>.js (a JSON object after `export default`)."""
    source = (FRONTEND_PUBLIC / "i18n" / f"{language}.js").read_text(encoding="utf-8")
    body = source[source.index("export default") + len("export default") :].strip()
    return json.loads(body.removesuffix(";"))


class Messages:
    """`T("signin.title")` → the string the user sees, placeholders filled like the app does."""

    def __init__(self, language: str):
        self.language = language
        self.messages = read_messages(language)

    def __call__(self, key: str, **params: object) -> str:
        def fill(match: re.Match) -> str:
            name = match.group(1)
            return self.value(params[name]) if name in params else match.group(0)

        return re.sub(r"\{(\w+)\}", fill, self.messages[key])

    def value(self, value: object) -> str:
        """A parameter as the app's t() writes it: whole numbers grouped the language's way."""
        if isinstance(value, int) and not isinstance(value, bool):
            return f"{value:,}".replace(",", "\u202f" if self.language == "fr" else ",")
        return str(value)


@dataclass
class Watch:
    """What went wrong in a page: console errors, uncaught exceptions, CSP violations."""

    base_url: str
    errors: list[str] = field(default_factory=list)

    def on_console(self, message) -> None:
        if message.type == "error":
            self.errors.append(f"{message.text} [{message.location.get('url', '')}]")

    def on_page_error(self, error) -> None:
        self.errors.append(f"uncaught: {error}")

    def assert_clean(self, expected: set[tuple[str, int]] = frozenset()) -> None:
        """No errors, except failed answers listed in `expected` as (path, status) pairs.

        A page opened without a session is told so by /api/auth/session with a 204, not an
        error: a guest's visit must log nothing here.
        """
        unexpected = []
        for error in self.errors:
            failed = FAILED_RESOURCE.search(error)
            url = error.rsplit("[", 1)[-1].rstrip("]")
            if failed and (urlparse(url).path, int(failed.group(1))) in expected:
                continue
            unexpected.append(error)
        assert not unexpected, "errors in the browser:\n" + "\n".join(unexpected)


@dataclass
class Site:
    """The booted stack as the browser tests use it."""

    stack: Stack
    T: Messages
    ca_file: Path

    @property
    def url(self) -> str:
        return self.stack.url

    def api(self) -> httpx.Client:
        """An HTTPS client trusting only the stack's self-signed certificate (for test set-up)."""
        context = ssl.create_default_context(cafile=self.ca_file)
        return httpx.Client(base_url=self.url, verify=context, timeout=30)

    def register(self, email: str, password: str, full_name: str | None = None) -> dict:
        with self.api() as client:
            response = client.post(
                "/api/auth/register",
                json={"email": email, "password": password, "full_name": full_name},
            )
        assert response.status_code == 201, response.text
        account = response.json()
        if account.get("email_verified") is False:
            self.verify(email)
        return account

    def verify(self, email: str) -> None:
        """Opens the verification link a local stack's mail catcher received for `email` (with
        mail on, ENVIRONMENT=local, an open sign-up is usable once its address is verified)."""
        index = self.stack.state_dir / "mail" / "index.log"
        found: list[str] = []

        def mailed() -> bool:
            lines = index.read_text().splitlines() if index.exists() else []
            found[:] = [
                line for line in lines if f"mail to {email}:" in line and "verify?token=" in line
            ]
            return bool(found)

        wait_for(mailed, 30, interval=0.3, what=f"the verification mail to {email}")
        token = re.search(r"verify\?token=([^\s&)]+)", found[-1]).group(1)
        with self.api() as client:
            done = client.post("/api/auth/verify-email", json={"token": token})
        assert done.status_code == 200, done.text


def make_site(stack: Stack) -> Site:
    return Site(
        stack=stack,
        T=Messages(ui_language(stack.project)),
        ca_file=stack.state_dir / "tls" / "selfsigned.crt",
    )


def ui_language(project: Path) -> str:
    answers = (project / ".copier-answers.yml").read_text()
    found = re.search(r"^ui_language:\s*(\w+)", answers, re.MULTILINE)
    return found.group(1) if found else "fr"


@dataclass
class PageOpener:
    browser: Browser
    site: Site
    contexts: list[BrowserContext] = field(default_factory=list)
    watches: list[Watch] = field(default_factory=list)

    def __call__(self, width: int = 1280, height: int = 860, **options) -> tuple[Page, Watch]:
        """A page in a fresh browser context (its own cookies), watched for errors.

        `options` go to the context: has_touch=True and is_mobile=True for a phone's touch screen,
        color_scheme="dark", device_scale_factor=2 (with a halved viewport: 200 % zoom)."""
        context = self.browser.new_context(
            ignore_https_errors=True,  # the stack's self-signed certificate
            viewport={"width": width, "height": height},
            locale="fr-FR" if self.site.T.language == "fr" else "en-GB",
            accept_downloads=True,
            **options,
        )
        context.set_default_timeout(15_000)
        context.add_init_script(CSP_LISTENER)
        self.contexts.append(context)
        page = context.new_page()
        watch = Watch(self.site.url)
        page.on("console", watch.on_console)
        page.on("pageerror", watch.on_page_error)
        self.watches.append(watch)
        return page, watch

    def close(self) -> None:
        for context in self.contexts:
            context.close()


def screenshot(page: Page, name: str) -> Path:
    """Save the page as test-artifacts/screenshots/<name>.png (for people to look at), after
    axe-core found no violation in it: every page state the suites show a person is checked."""
    assert_accessible(page, name)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


AXE = Axe()


# axe-core leaves its experimental rules out unless asked; this one is asked for: the visible
# text of a control must be part of its accessible name, or voice control ("click Nommer admin")
# misses it.
AXE_OPTIONS = {
    "resultTypes": ["violations"],
    "rules": {"label-content-name-mismatch": {"enabled": True}},
}


def assert_accessible(page: Page, state: str) -> None:
    """axe-core (its stable rules and label-content-name-mismatch) finds nothing on the page as
    it is now.

    `state` names the page state in the failure message ("sign-in, phone, dark").
    """
    results = AXE.run(page, options=AXE_OPTIONS)
    assert results.violations_count == 0, f"axe-core on {state}:\n{results.generate_report()}"


def png_bytes(width: int = 64, height: int = 48) -> bytes:
    """A real PNG image (a colour gradient), so the browser can show it as a thumbnail."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(
        b"\x00" + b"".join(bytes((x * 4 % 256, y * 5 % 256, 200)) for x in range(width))
        for y in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def open_page(browser: Browser, site: Site) -> Iterator[PageOpener]:
    """`open_page()` → (page, watch): a page in a fresh context; all closed after the test."""
    opener = PageOpener(browser, site)
    yield opener
    opener.close()


def unique_email(prefix: str) -> str:
    return f"{prefix}.{uuid.uuid4().hex[:10]}@example.com"


def sign_in(page: Page, site: Site, email: str, password: str = PASSWORD) -> None:
    T = site.T
    page.goto(f"{site.url}/")
    expect(page.get_by_role("heading", level=1, name=T("signin.title"))).to_be_visible()
    page.get_by_label(T("signin.email")).fill(email)
    page.get_by_label(T("signin.password")).fill(password)
    page.get_by_role("button", name=T("signin.submit")).click()
    expect(page.get_by_role("heading", level=1, name=T("files.title"))).to_be_visible()


def throttle_uploads(page: Page, bytes_per_second: int) -> None:
    """Slow the browser's uploads down (Chromium's network emulation), so progress can be seen."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {
            "offline": False,
            "latency": 0,
            "downloadThroughput": -1,
            "uploadThroughput": bytes_per_second,
        },
    )
