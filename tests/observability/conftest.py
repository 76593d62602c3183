"""The observability layer's fixtures: the browser ones (one Chromium per session)."""

from support.browser import browser, open_page

__all__ = ["browser", "open_page"]
