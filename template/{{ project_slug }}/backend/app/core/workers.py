"""How many processes serve the API, and the start command that runs them.

`python -m app.core.workers [uvicorn options]` runs `uvicorn app.main:app` with BACKEND_WORKERS
workers (settings.env): 0 means one per core this process may use (CPU affinity and the
container's CPU quota), at most MAX_WORKERS. The count reaches every worker as WEB_CONCURRENCY
(uvicorn's default for --workers), so each one can share per-host budgets (security.py's
password-hashing bound) instead of multiplying them.

With more than one worker the app is imported once, in the supervisor, and the workers are
forked from it (preload): the ~90 MB that the imports take are pages the workers share
copy-on-write instead of ~90 MB each. uvicorn itself would start each worker as a new interpreter
(multiprocessing's spawn) that imports everything again.
"""

from __future__ import annotations

import math
import os
import sys
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
    """Inside a worker: how many serve the API on this host (1 when started another way)."""
    value = os.environ.get("WEB_CONCURRENCY", "1")
    return int(value) if value.isdigit() and int(value) > 0 else 1


def preload() -> None:
    """Import the app here and make uvicorn fork its workers from this process.

    The import is what a worker would do first anyway (uvicorn's `app.main:app` is then found in
    sys.modules). Safe to fork: importing the app opens no connection, starts no thread and no
    event loop (the database pool and the storage client connect on first use, inside a worker).
    gc.freeze() keeps the collector from writing to every imported object in each worker, which
    would copy the shared pages one by one."""
    import gc
    import multiprocessing

    import uvicorn._subprocess

    import app.main  # noqa: F401 - the import is the point

    gc.freeze()
    # uvicorn (pinned in requirements.txt) makes its worker processes from this context.
    uvicorn._subprocess.spawn = multiprocessing.get_context("fork")


def main() -> None:
    workers = worker_count(os.environ.get("BACKEND_WORKERS"))
    os.environ["WEB_CONCURRENCY"] = str(workers)
    if workers > 1:
        preload()
    # uvicorn's own command line, in this process: it keeps this PID, so Docker's stop signal and
    # the native runner reach it, and it reads WEB_CONCURRENCY as its --workers. It forwards
    # SIGTERM to the workers, which finish the requests they hold (graceful shutdown).
    from uvicorn.main import main as uvicorn

    uvicorn(["app.main:app", *sys.argv[1:]])


if __name__ == "__main__":
    main()
