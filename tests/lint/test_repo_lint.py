"""The template repository's own code meets the bar it sets for generated code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from support.project import REPO_ROOT

BIN = Path(sys.executable).parent


def test_python_passes_ruff():
    result = subprocess.run(
        [str(BIN / "ruff"), "check", "--no-cache", "tests", "bench"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout


def test_python_is_formatted():
    result = subprocess.run(
        [str(BIN / "ruff"), "format", "--check", "--no-cache", "tests", "bench"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout


def test_shell_scripts_pass_shellcheck():
    scripts = sorted(str(p.relative_to(REPO_ROOT)) for p in (REPO_ROOT / "scripts").glob("*.sh"))
    result = subprocess.run(
        [str(BIN / "shellcheck"), ".ci/run", *scripts],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )
    assert scripts and result.returncode == 0, result.stdout
