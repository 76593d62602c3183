"""bench/first_visit.py in smoke mode: one pair of visits on the emulated slow network, against
the session's shared stack (no stack of its own, no warm-up pair), so it costs seconds.

It checks that the script measures and prints sane figures and leaves the site's frontend as it
found it, not that the sign-in form meets its target (docs/performance.md, from a full run).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from support.project import REPO_ROOT, Stack

pytestmark = pytest.mark.bench


def test_first_visit_prints_the_time_to_the_sign_in_form(stack: Stack, tmp_path: Path) -> None:
    [public] = stack.project.glob("*/frontend/public")
    before = sorted(path.relative_to(public) for path in public.rglob("*"))
    out = tmp_path / "first-visit.json"
    result = subprocess.run(
        [
            sys.executable,
            str(REPO_ROOT / "bench" / "first_visit.py"),
            *("--url", stack.url, "--public", str(public)),
            *("--pairs", "1", "--warmup", "0", "--out", str(out)),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    measured = json.loads(out.read_text())
    for side in ("A", "B"):
        [run] = measured[f"{side}_runs"]
        # A first visit shows the form after the page and its modules crossed a 150 ms network.
        assert 300 < run["form_ms"] < 30_000, run
        assert 5 < run["requests"] < 100, run
        assert 10 < run["kilobytes"] < 1_000, run
        assert f"{side} " in result.stdout and "sign-in form at" in result.stdout
    ratio = measured["ratio_b_over_a"]
    assert 0 < ratio["low"] <= ratio["median"] <= ratio["high"], ratio
    assert "B / A over 1 pairs" in result.stdout
    # The frontend is back as it was: a folder again, not the link the visits swapped.
    assert public.is_dir() and not public.is_symlink()
    assert sorted(path.relative_to(public) for path in public.rglob("*")) == before
