"""Where the CPU went during a measurement: cores used by each service and by the load client.

Read from /proc/<pid>/stat (utime + stime) for a process and its direct children (nginx workers,
PostgreSQL backends), from getrusage for this process and the clients it ran (wrk, curl), and
from /proc/stat for the whole machine. A service at ~1.0 core is what limits a single-worker
measurement; `other` well above 0 means something else was competing for the cores.
"""

from __future__ import annotations

import os
import resource
import time
from pathlib import Path
from types import TracebackType

TICKS = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return text.rsplit(")", 1)[1].split()  # after the command name, which may hold spaces


def tree_cpu_seconds(root: int) -> float:
    """CPU seconds of `root` and its direct children (their own, not their waited children)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields is None:
            continue
        pid, ppid = int(entry.name), int(fields[1])
        if pid == root or ppid == root:
            total += (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime
    return total


def machine_busy_seconds() -> float:
    """CPU seconds spent by processes on the whole machine (user, nice, system) plus steal (the
    hypervisor giving the cores to someone else); interrupts, which no process is charged for,
    are left out so that `other` means other work."""
    ticks = [int(value) for value in Path("/proc/stat").read_text().split("\n")[0].split()[1:9]]
    user, nice, system, steal = ticks[0], ticks[1], ticks[2], ticks[7]
    return (user + nice + system + steal) / TICKS


def client_cpu_seconds() -> float:
    usages = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return sum(usage.ru_utime + usage.ru_stime for usage in usages)


class CpuUsage:
    """`with CpuUsage({"backend": pid, ...}) as cpu: ...`, then `cpu.result()` in cores."""

    def __init__(self, pids: dict[str, int]):
        self.pids = pids

    def _snapshot(self) -> dict[str, float]:
        seconds = {name: tree_cpu_seconds(pid) for name, pid in self.pids.items()}
        return {**seconds, "client": client_cpu_seconds(), "machine": machine_busy_seconds()}

    def __enter__(self) -> CpuUsage:
        self.started, self.before = time.perf_counter(), self._snapshot()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.wall, self.after = time.perf_counter() - self.started, self._snapshot()

    def result(self) -> dict[str, float]:
        """Average cores each process kept busy over the measurement (1.0 = one full core);
        `other` is what the rest of the machine used meanwhile (other work sharing the cores)."""
        cores = {name: (self.after[name] - self.before[name]) / self.wall for name in self.after}
        machine = cores.pop("machine")
        cores["other"] = max(0.0, machine - sum(cores.values()))
        return {name: round(value, 2) for name, value in cores.items()}
