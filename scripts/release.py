"""The template's releases, as CHANGELOG.md names them; tags the released ones.

A release section's heading is `## X.Y.Z (YYYY-MM-DD, commit <sha>)`; the one gathering changes
is `## X.Y.Z (unreleased)`, at the top. This is read by the release workflow
(.github/workflows/release.yml) and by the update tests, so both agree on what was released.

Usage:
    python3 scripts/release.py list          # one line per section: version, commit or "unreleased"
    python3 scripts/release.py tag           # tag each released commit vX.Y.Z that has no tag yet
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

CHANGELOG = Path(__file__).resolve().parent.parent / "CHANGELOG.md"
HEADING = re.compile(
    r"^## (?P<version>\d+\.\d+\.\d+) \((?:unreleased|(?P<date>\d{4}-\d{2}-\d{2}), "
    r"commit (?P<commit>[0-9a-f]{7,40}))\)$"
)


class Release(NamedTuple):
    version: str
    date: str | None  # None while unreleased
    commit: str | None


def releases(text: str) -> list[Release]:
    """Every `## X.Y.Z (…)` section, newest first; a heading of another shape is an error."""
    found = []
    for line in text.split("<!--")[0].splitlines():
        if line.startswith("## "):
            match = HEADING.match(line)
            if not match:
                raise SystemExit(
                    f"CHANGELOG.md: {line!r} is neither '## X.Y.Z (unreleased)' nor "
                    "'## X.Y.Z (YYYY-MM-DD, commit <sha>)'"
                )
            found.append(Release(match["version"], match["date"], match["commit"]))
    return found


def git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=CHANGELOG.parent, capture_output=True, text=True, check=True
    ).stdout.strip()


def tag_released() -> None:
    for release in releases(CHANGELOG.read_text(encoding="utf-8")):
        if not release.commit:
            continue
        tag = f"v{release.version}"
        if git("tag", "--list", tag):
            print(f"{tag} exists")
            continue
        git("tag", "--annotate", tag, release.commit, "--message", f"closo-template {tag}")
        print(f"{tag} tagged at {release.commit}")


def main(argv: list[str]) -> None:
    if argv == ["list"]:
        for release in releases(CHANGELOG.read_text(encoding="utf-8")):
            print(release.version, release.commit or "unreleased")
    elif argv == ["tag"]:
        tag_released()
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
