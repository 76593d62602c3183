"""What the numbers were measured on: CPU, memory, OS and the versions of the moving parts."""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from support.project import PG_BIN, REPO_ROOT


def first_line(command: list[str]) -> str:
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "unavailable"
    return ((result.stdout or result.stderr).strip().splitlines() or ["unavailable"])[0]


def cpu_model() -> str:
    match = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.MULTILINE)
    return match.group(1).strip() if match else platform.processor() or "unknown"


def memory_gib() -> float:
    match = re.search(r"^MemTotal:\s+(\d+) kB", Path("/proc/meminfo").read_text(), re.MULTILINE)
    return round(int(match.group(1)) / 1024 / 1024, 1) if match else 0.0


def os_name() -> str:
    text = Path("/etc/os-release").read_text() if Path("/etc/os-release").is_file() else ""
    match = re.search(r'^PRETTY_NAME="?([^"\n]+)', text, re.MULTILINE)
    return match.group(1) if match else platform.system()


def busy_cores(seconds: float = 2.0) -> float:
    """Cores in use by anything over `seconds` (from /proc/stat): taken before a run, it tells
    whether other work shares the machine (the load average lags for minutes)."""

    def totals() -> tuple[int, int]:
        ticks = [int(value) for value in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
        idle = ticks[3] + ticks[4]  # idle + iowait
        return sum(ticks[:8]) - idle, sum(ticks[:8])

    busy_before, total_before = totals()
    time.sleep(seconds)
    busy_after, total_after = totals()
    share = (busy_after - busy_before) / max(1, total_after - total_before)
    return round(share * (os.cpu_count() or 1), 2)


def describe_machine() -> dict:
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": memory_gib(),
        "os": os_name(),
        "kernel": platform.release(),
        "busy_cores_before_run": busy_cores(),
        "python": sys.version.split()[0],
        "nginx": first_line(["nginx", "-v"]),
        "postgresql": first_line([str(PG_BIN / "postgres"), "--version"]),
        "wrk": first_line(["wrk", "--version"]),
        "curl": first_line(["curl", "--version"]),
        "template_commit": first_line(
            ["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"]
        ),
    }
