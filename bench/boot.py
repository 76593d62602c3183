"""Time from `stack.py up` to a healthy stack, with the services' virtualenv built (warm) or not.

Each boot gets a fresh state dir, so it includes what a first `up` of a project does: initdb,
migrations, the first admin, a self-signed certificate, both nginx. The cold boot also builds the
virtualenv in an empty cache folder (XDG_CACHE_HOME), so pip downloads every pinned package from
the package index: what the very first `up` on a new machine costs.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from support.project import Stack, read_env, services_venv


def project_stack(project: Path, state_dir: Path) -> Stack:
    env = {**read_env(project / "settings.env"), **read_env(project / ".env")}
    return Stack(project=project, state_dir=state_dir, env=env)


def timed_up(stack: Stack, extra_env: dict[str, str] | None = None) -> float:
    """Seconds from launching `up --detach` to its return (it returns once every service is
    healthy), checked with `status` afterwards."""
    runner = stack.project / "scripts" / "local" / "stack.py"
    command = [sys.executable, str(runner), "up", "--detach", "--state-dir", str(stack.state_dir)]
    started = time.perf_counter()
    result = subprocess.run(
        command, env={**os.environ, **(extra_env or {})}, capture_output=True, text=True
    )
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"`up` failed ({result.returncode}):\n{result.stdout}{result.stderr}")
    status = stack.refresh()
    unhealthy = [name for name, s in status["services"].items() if not s["healthy"]]
    if unhealthy:
        raise RuntimeError(f"`up` returned but these services are not healthy: {unhealthy}")
    return seconds


def build_venv(project: Path) -> None:
    """Build (or find) the shared virtualenv outside any timing, as a previous `up` would have."""
    services_venv(project)


def cold_boot(project: Path, workdir: Path) -> dict:
    """One `up` with an empty cache folder: venv built from the package index, then down."""
    cache = workdir / "cold-cache"
    stack = project_stack(project, workdir / "cold-state")
    try:
        seconds = timed_up(stack, {"XDG_CACHE_HOME": str(cache)})
    finally:
        stack.down()
        shutil.rmtree(cache, ignore_errors=True)
        shutil.rmtree(stack.state_dir, ignore_errors=True)
    return {"seconds": round(seconds, 2)}


def warm_boots(project: Path, workdir: Path, runs: int) -> tuple[dict, Stack]:
    """`runs` boots with the virtualenv built; all but the last are stopped, the last is returned
    running for the load measurements."""
    build_venv(project)
    seconds = []
    for index in range(runs):
        stack = project_stack(project, workdir / f"warm-state-{index}")
        try:
            seconds.append(timed_up(stack))
        except BaseException:
            stack.down()
            raise
        if index < runs - 1:
            stack.down()
            shutil.rmtree(stack.state_dir, ignore_errors=True)
    return {
        "runs": runs,
        "median_s": round(statistics.median(seconds), 2),
        "all_s": [round(value, 2) for value in seconds],
    }, stack
