"""How many processes serve the API, and the start command that runs them.

`python -m app.core.workers [uvicorn options]` runs `uvicorn app.main:app` with BACKEND_WORKERS
workers (settings.env): 0 means one per core this process may use (CPU affinity and the
container's CPU quota), at most MAX_WORKERS. The count reaches every worker as WEB_CONCURRENCY
(uvicorn's default for --workers), so each one can share per-host budgets (security.py's
password-hashing bound) instead of multiplying them.
"""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

# Each worker costs its own memory (~60 MB at idle): past 4 a small server swaps before it gains.
MAX_WORKERS = 4


def usable_cores() -> int:
    """Cores this process may run on: its CPU affinity, lowered by a cgroup v2 quota (docker
    --cpus, compose's cpus:), which os.cpu_count() does not see."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cores = cores or 1
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()
    except (OSError, ValueError):
        return cores
    if quota == "max":
        return cores
    return max(1, min(cores, math.ceil(int(quota) / int(period))))


def worker_count(setting: str | None) -> int:
    """BACKEND_WORKERS as a number of processes: a positive number as given, 0 or empty one per
    usable core, at most MAX_WORKERS."""
    text = (setting or "").strip() or "0"
    if not text.isdigit():
        raise SystemExit(f"BACKEND_WORKERS={setting!r}: use a whole number, or 0 for one per core")
    wanted = int(text)
    return wanted if wanted > 0 else min(MAX_WORKERS, usable_cores())


def running_workers() -> int:
    """Inside a worker: how many serve the API on this host (1 when started another way)."""
    value = os.environ.get("WEB_CONCURRENCY", "1")
    return int(value) if value.isdigit() and int(value) > 0 else 1


def main() -> None:
    os.environ["WEB_CONCURRENCY"] = str(worker_count(os.environ.get("BACKEND_WORKERS")))
    # uvicorn's own command line, in this process: it keeps this PID, so Docker's stop signal and
    # the native runner reach it, and it reads WEB_CONCURRENCY as its --workers.
    from uvicorn.main import main as uvicorn

    uvicorn(["app.main:app", *sys.argv[1:]])


if __name__ == "__main__":
    main()
