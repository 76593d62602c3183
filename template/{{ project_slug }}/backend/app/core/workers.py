"""How many processes serve the API: BACKEND_WORKERS as gunicorn.conf.py reads it.

BACKEND_WORKERS (settings.env) 0 means one per core this process may use (CPU affinity and the
container's CPU quota), at most MAX_WORKERS. gunicorn.conf.py gives the count to every worker as
WEB_CONCURRENCY, so each one can share per-host budgets (security.py's password-hashing bound)
instead of multiplying them.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

# Each worker costs memory of its own (~15-25 MB private beside the shared imports, more once it
# has served and hashed): past 4 a small server swaps before it gains.
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
    """Inside a worker: how many serve the API on this host (1 when started another way, such
    as `uvicorn app.main:app`)."""
    value = os.environ.get("WEB_CONCURRENCY", "1")
    return int(value) if value.isdigit() and int(value) > 0 else 1
