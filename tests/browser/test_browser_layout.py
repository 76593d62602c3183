"""The layout family, on every page and dialog a visitor, a user and an administrator reach, at
1280, 1440 and 1920 px and on a 390 px phone, with long addresses and names and 300 rows in
every list (users, files, the audit log) (Debian's Chromium, Playwright, the shared stack of the
session):

- nothing is wider than the window or juts out of its container, except inside what is meant to
  scroll sideways (a table's scroller), and that scroller does not scroll on a desktop: every
  action of a row of the users table is on screen;
- form controls of one kind have one height (text fields and menus; buttons; small buttons);
- axe-core finds nothing, its experimental rule label-content-name-mismatch included (the visible
  text of a button is part of its accessible name, so voice control finds it).

One admin page and one user page per width are reused across their states, so the whole module
costs a few page loads per width.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from playwright.sync_api import Page, expect
from support.api import sql
from support.browser import PASSWORD, Site, make_site, screenshot, sign_in
from support.project import Stack

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

WIDTHS = [1280, 1440, 1920, 390]
LONG_DOMAIN = "cabinet-dupre-et-fils-avocats-associes.fr"
LONG_NAME = "Marie-Éléonore Lefèvre-Dupré de la Tour d'Auvergne"
LONG_FILE = (
    "compte-rendu-de-la-reunion-du-conseil-d-administration-du-{n}-mars-2026-version-definitive.pdf"
)

# Every element, horizontally: inside the window and inside its parent, unless an ancestor
# scrolls sideways (then it is that scroller's business) or it is visually hidden.
OVERFLOWS = """() => {
  const width = document.documentElement.clientWidth;
  const describe = (el) => el.tagName.toLowerCase() + (el.id ? `#${el.id}` : '')
    + (typeof el.className === 'string' && el.className ? `.${el.className.trim().split(/\\s+/).join('.')}` : '');
  const span = (box) => `${Math.round(box.left)}..${Math.round(box.right)}`;
  const scrolls = (el) => ['auto', 'scroll'].includes(getComputedStyle(el).overflowX);
  // Visually hidden on purpose (clipped to nothing: .visually-hidden, the phone table's header).
  const hidden = (el) => {
    for (let up = el; up; up = up.parentElement) {
      if (getComputedStyle(up).clip === 'rect(0px, 0px, 0px, 0px)') return true;
    }
    return false;
  };
  const inScroller = (el) => {
    for (let up = el.parentElement; up && up !== document.body; up = up.parentElement) {
      if (scrolls(up)) return true;
    }
    return false;
  };
  const problems = [];
  const pageWidth = document.documentElement.scrollWidth;
  if (pageWidth > width) problems.push(`page scrolls sideways: ${pageWidth} > ${width}`);
  for (const el of document.querySelectorAll('body *')) {
    const box = el.getBoundingClientRect();
    if (!box.width || !box.height || getComputedStyle(el).position === 'fixed') continue;
    if (hidden(el) || inScroller(el)) continue;
    if (box.left < -1 || box.right > width + 1) {
      problems.push(`${describe(el)} outside the window: ${span(box)} of ${width}`);
    }
    const parent = el.parentElement;
    if (!parent || parent === document.body) continue;
    if (getComputedStyle(parent).display === 'contents') continue;
    const outer = parent.getBoundingClientRect();
    if (box.left < outer.left - 1 || box.right > outer.right + 1) {
      problems.push(`${describe(el)} juts out of ${describe(parent)}: ${span(box)} in ${span(outer)}`);
    }
  }
  return problems.slice(0, 10);
}"""  # noqa: E501 (one line of JavaScript)

# Heights of the visible controls, by kind.
CONTROL_HEIGHTS = """() => {
  const kinds = {};
  const add = (kind, el) => {
    const box = el.getBoundingClientRect();
    if (!box.width || el.closest('.visually-hidden')) return;
    const name = el.textContent.trim().slice(0, 30) || el.name || el.type;
    (kinds[kind] ??= []).push([Math.round(box.height), name]);
  };
  for (const el of document.querySelectorAll('.input')) add('text fields and menus', el);
  for (const el of document.querySelectorAll('.btn')) {
    if (el.classList.contains('menu-toggle')) continue; // the phone header's own short row
    add(el.classList.contains('btn-small') ? 'small buttons' : 'buttons', el);
  }
  return kinds;
}"""

# Every action button of the users table that the window or the table's scroller does not show.
ROW_ACTIONS_HIDDEN = """() => {
  const scroller = document.querySelector('.table-scroll');
  const view = scroller.getBoundingClientRect();
  const width = document.documentElement.clientWidth;
  const offScreen = (box) => box.left < view.left || box.right > view.right || box.right > width;
  return [...scroller.querySelectorAll('td.cell-actions .btn')]
    .filter((button) => offScreen(button.getBoundingClientRect()))
    .map((button) => button.getAttribute('aria-label'));
}"""


@dataclass
class People:
    admin_email: str
    admin_password: str
    user_email: str


@pytest.fixture(scope="session")
def site(stack: Stack) -> Site:
    return make_site(stack)


# Rows in each list the pages show: the largest case, 15 pages of users and of the audit
# log, 13 pages of files.
ROWS = 300


def quoted(text: str) -> str:
    """`text` as an SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


@pytest.fixture(scope="module")
def people(site: Site) -> Iterator[People]:
    """300 accounts with long addresses and names, 300 entries in the audit log, and one account
    with 300 files of long names.

    One account is made through the API (sign-in works for it); the other rows are written by
    three SQL statements (the accounts copy its password hash; the files are rows without content,
    never opened here): what is checked is the layout of long lists, and 900 API calls would cost
    minutes. They are deleted at the end of the module (the stack is the session's)."""
    env = site.stack.env
    tag = uuid.uuid4().hex[:6]
    user_email = f"marie-eleonore.lefevre-dupre.{tag}.0@{LONG_DOMAIN}"
    with site.api() as client:
        login = client.post(
            "/api/auth/login",
            data={"username": env["FIRST_ADMIN_EMAIL"], "password": env["FIRST_ADMIN_PASSWORD"]},
        )
        admin = {"Authorization": f"Bearer {login.json()['access_token']}"}
        created = client.post(
            "/api/users",
            headers=admin,
            json={"email": user_email, "password": PASSWORD, "full_name": LONG_NAME},
        )
        assert created.status_code == 201, created.text
    file_name = " || n || ".join(quoted(part) for part in LONG_FILE.split("{n}"))
    sql(
        site.stack,
        f"""
        INSERT INTO users (id, email, full_name, hashed_password, role, is_active)
          SELECT gen_random_uuid(), {quoted(f"marie-eleonore.lefevre-dupre.{tag}.")} || n
                   || {quoted(f"@{LONG_DOMAIN}")}, {quoted(LONG_NAME)}, hashed_password,
                 'user', true
          FROM users, generate_series(1, {ROWS - 1}) AS n WHERE email = {quoted(user_email)};
        INSERT INTO files (id, owner_id, name, stored_name, size, sha256, content_type)
          SELECT gen_random_uuid(), id, {file_name}, md5({quoted(tag)} || n), 9000 + n,
                 repeat('0', 64), 'application/pdf'
          FROM users, generate_series(1, {ROWS}) AS n WHERE email = {quoted(user_email)};
        INSERT INTO audit_log (at, actor_id, actor_email, action, target_id, target_email, detail)
          SELECT now() - interval '1 day' - row_number() OVER () * interval '1 minute',
                 admin.id, admin.email, 'create_account', seeded.id, seeded.email, 'role=user'
          FROM users AS seeded, users AS admin
          WHERE seeded.email LIKE {quoted(f"%.{tag}.%")}
            AND admin.email = {quoted(env["FIRST_ADMIN_EMAIL"].lower())};
        """,  # noqa: S608 (the test's own values, quoted)
    )
    yield People(env["FIRST_ADMIN_EMAIL"], env["FIRST_ADMIN_PASSWORD"], user_email)
    seeded = quoted(f"%.{tag}.%")
    sql(site.stack, f"DELETE FROM audit_log WHERE target_email LIKE {seeded}")  # noqa: S608
    sql(site.stack, f"DELETE FROM users WHERE email LIKE {seeded}")  # noqa: S608


# axe-core and screenshots at one desktop width and the phone's: what they check does not change
# between 1280 and 1920 px, and they cost most of this module's time.
AUDITED_WIDTHS = {1280, 390}


def check(page: Page, state: str, *, desktop: bool, audit: bool) -> None:
    """The layout rules on the page as it is now; then axe-core and a screenshot if `audit`."""
    page.wait_for_load_state("networkidle")
    overflows = page.evaluate(OVERFLOWS)
    assert overflows == [], f"{state}: {overflows}"
    heights = page.evaluate(CONTROL_HEIGHTS)
    for kind, controls in heights.items():
        assert len({height for height, _ in controls}) == 1, (
            f"{state}: {kind} of several heights: {controls}"
        )
    if desktop and page.locator(".table-scroll td.cell-actions").count():
        assert page.evaluate(ROW_ACTIONS_HIDDEN) == [], f"{state}: row actions off screen"
    if audit:
        screenshot(page, f"layout-{state}")  # axe-core first (support.browser.assert_accessible)


def open_at(open_page, width: int) -> Page:
    page, _ = open_page(width, 900 if width > 600 else 844)
    return page


@pytest.mark.parametrize("width", WIDTHS)
def test_every_page_and_dialog_fits_at_every_width(
    open_page, site: Site, people: People, width: int
):
    T, desktop, audit = site.T, width > 600, width in AUDITED_WIDTHS
    page = open_at(open_page, width)

    page.goto(f"{site.url}/")
    expect(page.get_by_role("heading", level=1, name=T("signin.title"))).to_be_visible()
    check(page, f"{width}-sign-in", desktop=desktop, audit=audit)
    page.goto(f"{site.url}/#/signup")
    expect(page.get_by_role("heading", level=1, name=T("signup.title"))).to_be_visible()
    check(page, f"{width}-sign-up", desktop=desktop, audit=audit)
    page.goto(f"{site.url}/pas/une/page")
    expect(page.get_by_role("heading", level=1, name=T("error.notFoundPage"))).to_be_visible()
    check(page, f"{width}-not-found", desktop=desktop, audit=audit)

    # A user with 13 pages of long file names (the first and the last), and the delete dialog.
    sign_in(page, site, people.user_email)
    expect(page.locator(".file-card")).to_have_count(24)
    check(page, f"{width}-user-files", desktop=desktop, audit=audit)
    page.goto(f"{site.url}/#/files?page=13")
    expect(page.locator(".file-card")).to_have_count(ROWS - 12 * 24)
    check(page, f"{width}-user-files-last-page", desktop=desktop, audit=False)
    page.locator(".file-card").first.get_by_role("button", name=T("files.delete")).click()
    expect(page.get_by_role("dialog")).to_be_visible()
    check(page, f"{width}-user-delete-dialog", desktop=desktop, audit=audit)
    page.keyboard.press("Escape")
    page.goto(f"{site.url}/#/profile")
    expect(page.get_by_role("heading", level=1, name=T("profile.title"))).to_be_visible()
    check(page, f"{width}-user-profile", desktop=desktop, audit=audit)

    # The administrator: the users table and the audit log (15 pages or more each: the stack is
    # shared), its dialogs, the forms.
    admin = open_at(open_page, width)
    sign_in(admin, site, people.admin_email, people.admin_password)
    admin.goto(f"{site.url}/#/users")
    table = admin.get_by_role("table", name=T("users.title"))
    expect(table.locator("tbody tr")).to_have_count(20)
    check(admin, f"{width}-admin-users", desktop=desktop, audit=audit)
    row = table.locator("tbody tr").filter(has=admin.locator("[data-action=active]")).first
    row.locator("[data-action=active]").click()
    expect(admin.get_by_role("dialog")).to_be_visible()
    check(admin, f"{width}-admin-deactivate-dialog", desktop=desktop, audit=audit)
    admin.keyboard.press("Escape")
    row.get_by_role("button", name=T("users.quota"), exact=False).click()
    expect(admin.get_by_role("dialog")).to_be_visible()
    check(admin, f"{width}-admin-quota-dialog", desktop=desktop, audit=audit)
    admin.keyboard.press("Escape")
    admin.get_by_role("form", name=T("admin.inviteHeading")).get_by_label(T("admin.email")).fill(
        f"nouvelle.collaboratrice.{uuid.uuid4().hex[:6]}@{LONG_DOMAIN}"
    )
    admin.get_by_role("button", name=T("admin.invite")).click()
    expect(admin.get_by_test_id("issued-link")).to_be_visible()
    check(admin, f"{width}-admin-invitation-link", desktop=desktop, audit=audit)
