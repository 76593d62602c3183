"""A visitor's first visit on a slow phone network: how long until the sign-in form is there.

Usage (from the repository root, after scripts/setup.sh):
    .venv/bin/python bench/first_visit.py [--pairs 7] [--against REV] [--out FILE.json]

Renders the template from the working tree, boots it with its native runner, and opens the site in
Debian's Chromium (Playwright) on Chromium's emulated network (CDP
`Network.emulateNetworkConditions`: 1.6 Mbps down, 750 kbps up, 150 ms round trip), each visit in
a fresh browser context (empty cache, no cookie). Two frontends alternate, A B A B …: B is the
frontend as the working tree ships it; A is, with `--against REV`, the frontend of that git
revision (e.g. the commit before a change: its public folder, its index.html rendered with the
same answers), else B's page without its `<link rel="modulepreload">` list (each module found only
when the one importing it has arrived). The site's public folder is swapped before each visit (a
symbolic link nginx follows). For each visit: the milliseconds from the start of navigation until
the sign-in form's button is in the page (a MutationObserver in the page notes
`performance.now()`), the requests, the bytes over the wire, and any URL fetched more than once.
Prints the medians and the median of the pair ratios B / A with their spread (the machine is
shared: only alternating runs compare).

`--url URL --public DIR` measures a site already running instead (the smoke test's shared stack):
DIR, its frontend's public folder, is swapped during the run and put back at its end.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import jinja2
import yaml
from alternate import spread
from playwright.sync_api import Browser, sync_playwright
from support.browser import CHROMIUM, CHROMIUM_ARGS
from support.project import REPO_ROOT, boot_stack

PUBLIC_IN_TEMPLATE = "template/{{ project_slug }}/frontend/public"

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


def without_preload(public: Path, dest: Path) -> Path:
    """A copy of `public` whose index.html has no modulepreload list."""
    shutil.copytree(public, dest)
    page = (dest / "index.html").read_text()
    without = re.sub(r'\s*<link rel="modulepreload"[^>]*>', "", page)
    assert without != page, "index.html has no modulepreload list"
    (dest / "index.html").write_text(without)
    return dest


def public_of(revision: str, project: Path, dest: Path) -> Path:
    """The frontend's public folder of git `revision`, its index.html rendered with `project`'s
    answers (the only template file in it)."""
    archive = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "archive", "--format=tar", revision, PUBLIC_IN_TEMPLATE],
        capture_output=True,
        check=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(dest, filter="data")
    public = dest / PUBLIC_IN_TEMPLATE
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    for template in public.rglob("*.jinja"):
        text = jinja2.Template(template.read_text(), keep_trailing_newline=True).render(answers)
        template.with_suffix("").write_text(text)
        template.unlink()
    return public


@contextmanager
def swappable(public: Path) -> Iterator[Callable[[Path], None]]:
    """Makes the site's `public` folder a symbolic link; yields `serve(folder)`, which points it
    at `folder`. The folder is back in its place at the end."""
    shipped = public.with_name(public.name + ".shipped")
    public.rename(shipped)
    public.symlink_to(shipped)

    def serve(folder: Path) -> None:
        link = public.with_name(public.name + ".next")
        link.symlink_to(folder)
        os.replace(link, public)  # atomic: nginx never finds the folder missing

    try:
        yield serve
    finally:
        public.unlink()
        shipped.rename(public)


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


def alternate_visits(url: str, sides: dict[str, Path], serve, pairs: int, warmup: int) -> dict:
    """Visits A, B, A, B …; the first `warmup` pairs warm the servers and are not counted."""
    runs: dict[str, list[dict]] = {side: [] for side in sides}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for pair in range(warmup + pairs):
            for side, folder in sides.items():
                serve(folder)
                result = visit(browser, f"{url}/")
                if pair >= warmup:
                    runs[side].append(result)
        browser.close()
    return runs


def measure(
    url: str, public: Path, project: Path, pairs: int, against: str | None, warmup: int = 1
) -> dict:
    """The alternating visits of the site at `url`, whose frontend is the folder `public`."""
    work = Path(tempfile.mkdtemp(prefix="closo-first-visit-"))
    work.chmod(0o755)
    try:
        if against:
            a_side = public_of(against, project, work / "a")
        else:
            a_side = without_preload(public, work / "a" / "public")
        # Readable by the site's nginx workers, whatever user they run as.
        for folder in [work, *work.rglob("*")]:
            folder.chmod(0o755 if folder.is_dir() else 0o644)
        with swappable(public) as serve:
            shipped = public.with_name(public.name + ".shipped")
            runs = alternate_visits(url, {"A": a_side, "B": shipped}, serve, pairs, warmup)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {
        "network": SLOW_NETWORK,
        "pairs": pairs,
        "warmup_pairs": warmup,
        "A": f"the frontend of {against}" if against else "without modulepreload",
        "A_runs": runs["A"],
        "B_runs": runs["B"],
        "form_ms": {side: median_of(runs[side], "form_ms") for side in runs},
        "ratio_b_over_a": spread(
            [b["form_ms"] / a["form_ms"] for a, b in zip(runs["A"], runs["B"], strict=True)]
        ),
    }


def report(result: dict) -> None:
    for side, name in (("A", result["A"]), ("B", "as shipped")):
        runs = result[f"{side}_runs"]
        times = [run["form_ms"] for run in runs]
        twice = sorted({path for run in runs for path in run["fetched_twice"]})
        print(
            f"{side} {name}: sign-in form at {statistics.median(times):.0f} ms "
            f"({min(times)}-{max(times)}), {median_of(runs, 'requests'):.0f} requests, "
            f"{median_of(runs, 'kilobytes')} kB, fetched twice: {twice or 'none'}"
        )
    ratio = result["ratio_b_over_a"]
    print(f"B / A over {result['pairs']} pairs: {ratio['median']} ({ratio['low']}-{ratio['high']})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=1, help="pairs not counted (default 1)")
    parser.add_argument("--against", metavar="REV", help="A: the frontend of this git revision")
    parser.add_argument("--url", help="a site already running (with --public)")
    parser.add_argument("--public", type=Path, help="that site's frontend public folder")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if bool(args.url) != bool(args.public):
        parser.error("--url and --public go together: the site and its frontend's public folder")

    if args.url:
        project = args.public.parents[2]  # <project>/<slug>/frontend/public
        result = measure(args.url, args.public, project, args.pairs, args.against, args.warmup)
    else:
        base = Path(tempfile.mkdtemp(prefix="closo-first-visit-"))
        base.chmod(0o755)
        stack = boot_stack(base)
        try:
            [public] = stack.project.glob("*/frontend/public")
            result = measure(
                stack.url, public, stack.project, args.pairs, args.against, args.warmup
            )
        finally:
            stack.down()
    report(result)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
