"""A visitor's first visit on a slow phone network: how long until the sign-in form is there.

Usage (from the repository root, after scripts/setup.sh):
    .venv/bin/python bench/first_visit.py [--pairs 7] [--out bench/results/first-visit.json]

Renders the template from the working tree, boots it with its native runner, and opens the site in
Debian's Chromium (Playwright) on Chromium's emulated network (CDP
`Network.emulateNetworkConditions`: 1.6 Mbps down, 750 kbps up, 150 ms round trip), each visit in
a fresh browser context (empty cache, no cookie). Two pages alternate, A B A B …: A is the page
without its `<link rel="modulepreload">` list (what the first visit was before: each module found
only when the one importing it has arrived), B is index.html as the template ships it. Both are
served as the site's index.html (the app shows "page not found" at any other address): the file is
swapped before each visit. For each visit: the
milliseconds from the start of navigation until the sign-in form's button is in the page (a
MutationObserver in the page notes `performance.now()`), the requests, the bytes over the wire, and
any URL fetched more than once. Prints the medians and the median of the pair ratios B / A with
their spread (the machine is shared: only alternating runs compare).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tempfile
from collections import Counter
from pathlib import Path

from alternate import spread
from playwright.sync_api import Browser, sync_playwright
from support.browser import CHROMIUM, CHROMIUM_ARGS
from support.project import boot_stack

# Chromium's network emulation, in its own units: bytes per second and milliseconds.
SLOW_NETWORK = {
    "offline": False,
    "latency": 150,
    "downloadThroughput": 1_600_000 / 8,
    "uploadThroughput": 750_000 / 8,
}
# Notes when the sign-in form's button is first in the page (before the app's script runs).
FORM_SHOWN = """
new MutationObserver((changes, observer) => {
  if (document.querySelector('.auth-card form button[type=submit]')) {
    window.__formShownMs = performance.now();
    observer.disconnect();
  }
}).observe(document, { childList: true, subtree: true });
"""


def pages(public: Path) -> dict[str, str]:
    """The two index.html to alternate: A without its modulepreload list, B as shipped."""
    page = (public / "index.html").read_text()
    without = re.sub(r'\s*<link rel="modulepreload"[^>]*>', "", page)
    assert without != page, "index.html has no modulepreload list"
    return {"A": without, "B": page}


def visit(browser: Browser, url: str) -> dict:
    """One first visit of `url` on the slow network, with an empty cache."""
    context = browser.new_context(ignore_https_errors=True, viewport={"width": 390, "height": 844})
    context.add_init_script(FORM_SHOWN)
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", SLOW_NETWORK)
    urls: dict[str, str] = {}
    wire_bytes = 0

    def sent(event: dict) -> None:
        urls[event["requestId"]] = event["request"]["url"]

    def finished(event: dict) -> None:
        nonlocal wire_bytes
        wire_bytes += event["encodedDataLength"]

    cdp.on("Network.requestWillBeSent", sent)
    cdp.on("Network.loadingFinished", finished)
    page.goto(url, wait_until="commit")
    page.wait_for_function("() => window.__formShownMs !== undefined", timeout=30_000)
    shown_ms = page.evaluate("() => window.__formShownMs")
    page.wait_for_load_state("networkidle")
    context.close()
    paths = Counter(re.sub(r"^https://[^/]+", "", u) for u in urls.values())
    return {
        "form_ms": round(shown_ms),
        "requests": len(urls),
        "kilobytes": round(wire_bytes / 1000, 1),
        "fetched_twice": sorted(path for path, count in paths.items() if count > 1),
    }


def median_of(runs: list[dict], key: str) -> float:
    return statistics.median(run[key] for run in runs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=7)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    base = Path(tempfile.mkdtemp(prefix="closo-first-visit-"))
    base.chmod(0o755)
    stack = boot_stack(base)
    try:
        [public] = stack.project.glob("*/frontend/public")
        sides = pages(public)
        index = public / "index.html"
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            runs: dict[str, list[dict]] = {"A": [], "B": []}
            for pair in range(args.pairs + 1):  # the first pair warms the servers, not the browser
                for side, page in sides.items():
                    index.write_text(page)
                    result = visit(browser, f"{stack.url}/")
                    if pair:
                        runs[side].append(result)
            index.write_text(sides["B"])
            browser.close()
    finally:
        stack.down()

    result = {
        "network": SLOW_NETWORK,
        "pairs": args.pairs,
        "A_without_preload": runs["A"],
        "B_as_shipped": runs["B"],
        "form_ms": {side: median_of(runs[side], "form_ms") for side in runs},
        "ratio_b_over_a": spread(
            [b["form_ms"] / a["form_ms"] for a, b in zip(runs["A"], runs["B"], strict=True)]
        ),
    }
    for side, name in (("A", "without modulepreload"), ("B", "as shipped")):
        times = [run["form_ms"] for run in runs[side]]
        print(
            f"{side} {name:22} sign-in form at {statistics.median(times):6.0f} ms "
            f"({min(times)}-{max(times)}), {median_of(runs[side], 'requests'):.0f} requests, "
            f"{median_of(runs[side], 'kilobytes')} kB, "
            f"fetched twice: {runs[side][-1]['fetched_twice'] or 'none'}"
        )
    ratio = result["ratio_b_over_a"]
    print(f"B / A over {args.pairs} pairs: {ratio['median']} ({ratio['low']}-{ratio['high']})")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
