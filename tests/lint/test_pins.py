"""The services' pins install as wheels on every Python and CPU a deployment image may use.

The images are built from `python:<python_version>-slim` on the server, never here, so this asks
pip (resolving against the package index, installing nothing) whether every pinned package has a
wheel for each `python_version` choice on x86_64 and arm64: a build next year gets what was tested,
and no server has to compile anything.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from support.project import REPO_ROOT

SERVICES = REPO_ROOT / "template" / "{{ project_slug }}"
REQUIREMENTS = [
    SERVICES / "backend" / "requirements.txt",
    SERVICES / "storage" / "requirements.txt",
]
PYTHONS = yaml.safe_load((REPO_ROOT / "copier.yml").read_text())["python_version"]["choices"]
PLATFORMS = {
    "x86_64": ["manylinux2014_x86_64", "manylinux_2_17_x86_64", "manylinux_2_28_x86_64"],
    "arm64": ["manylinux2014_aarch64", "manylinux_2_17_aarch64", "manylinux_2_28_aarch64"],
}


def test_every_runtime_requirement_is_pinned_exactly():
    for path in REQUIREMENTS:
        for line in path.read_text().splitlines():
            line = line.split("#")[0].strip()
            if line:
                assert re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==[A-Za-z0-9_.]+", line), (
                    f"{path}: {line}"
                )


@pytest.mark.parametrize("cpu", sorted(PLATFORMS))
@pytest.mark.parametrize("python", PYTHONS)
def test_pins_resolve_to_wheels(python: str, cpu: str, tmp_path: Path):
    platforms = [arg for name in PLATFORMS[cpu] for arg in ("--platform", name)]
    requirements = [arg for path in REQUIREMENTS for arg in ("-r", str(path))]
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--dry-run",
            "--ignore-installed",
            "--disable-pip-version-check",
            "--only-binary=:all:",
            "--python-version",
            python,
            *platforms,
            "--target",
            str(tmp_path),
            *requirements,
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
