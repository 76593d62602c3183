"""The one way the tests and the bench wait for something: poll a check until it holds."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_for(
    check: Callable[[], object], timeout: float = 15, *, interval: float = 0.5, what: str = ""
) -> float:
    """Call `check` every `interval` seconds until it returns something true; return the seconds
    that took. After `timeout` seconds: AssertionError naming `what`. To stop early (a process
    that exited, say), `check` raises."""
    start = time.monotonic()
    while not check():
        waited = time.monotonic() - start
        if waited > timeout:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(interval)
    return time.monotonic() - start
