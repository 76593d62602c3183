"""The services' Python packages: one virtualenv per set of pins, built on the first `up`."""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

from .config import Project
from .errors import StackError


def requirement_files(project: Project) -> list[Path]:
    files = []
    for service in ("backend", "storage"):
        for name in ("requirements.txt", "requirements-dev.txt"):
            path = project.services_dir / service / name
            if path.is_file():
                files.append(path)
    return files


def venv_path(project: Project) -> Path:
    """Shared by every checkout that pins the same versions (for the same Python)."""
    digest = hashlib.sha256(sys.version.encode())
    for path in requirement_files(project):
        digest.update(path.read_bytes())
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    name = f"venv-{digest.hexdigest()[:16]}"
    return Path(os.environ.get("STACK_VENV") or cache / "closo-stack" / name)


def ensure_venv(project: Project) -> tuple[Path, bool]:
    """The virtualenv, and whether this call installed it (a first run)."""
    venv = venv_path(project)
    marker = venv / ".complete"
    if marker.is_file():
        return venv, False
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / f"{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # parallel `up`s (tests) build it once
        if marker.is_file():
            return venv, False
        print(f"Installing the services' dependencies into {venv} (first run only)…", flush=True)
        install(venv, requirement_files(project))
        marker.write_text("\n".join(str(p) for p in requirement_files(project)) + "\n")
    return venv, True


def install(venv: Path, files: list[Path]) -> None:
    shutil.rmtree(venv, ignore_errors=True)
    made = subprocess.run([sys.executable, "-m", "venv", str(venv)], capture_output=True, text=True)
    if made.returncode != 0:
        raise StackError(
            f"{sys.executable} cannot create a virtualenv ({made.stdout.strip()[-300:]}): "
            "install venv support (Debian/Ubuntu: `sudo apt-get install python3-venv`)."
        )
    args = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    args.append("--disable-pip-version-check")
    args.append("--require-hashes")  # the locks' hashes: a package replaced on the index is refused
    for path in files:
        args += ["-r", str(path)]
    result = subprocess.run(args, capture_output=True, text=True)
    if result.returncode != 0:
        raise StackError(
            f"pip could not install the services' dependencies:\n{result.stderr[-3000:]}"
        )
