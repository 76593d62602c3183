"""The browser layer's fixtures: one Chromium per session (two Playwright instances cannot run
in one thread), and `open_page` for the `site` fixture each module defines."""

from support.browser import browser, open_page

__all__ = ["browser", "open_page"]
