"""Peak resident memory of running processes, sampled from /proc while a measurement runs.

VmHWM (the kernel's high-water mark) covers a process's whole life, so it cannot tell which step
made the peak: a sampler thread reads VmRSS every few milliseconds instead, between `start` and
`stop`, and keeps the largest value per process.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from types import TracebackType

MB = 1000 * 1000  # targets are in MB (decimal), as the issue states them


def status_kib(pid: int, field: str) -> int:
    """One `VmXXX:` field of /proc/<pid>/status, in KiB (0 once the process is gone)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return 0
    for line in text.splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    return 0


def rss_mb(pid: int) -> float:
    return status_kib(pid, "VmRSS") * 1024 / MB


def children(pid: int) -> list[int]:
    """Direct children of a process (uvicorn's workers, nginx's), from /proc."""
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return []
    return [int(child) for child in text.split()]


def tree(pid: int) -> list[int]:
    return [pid, *children(pid)]


def is_resource_tracker(pid: int) -> bool:
    """multiprocessing's helper process, which uvicorn's supervisor starts beside its workers."""
    try:
        return b"resource_tracker" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return False


def workers(pid: int) -> list[int]:
    """The processes that serve requests: uvicorn's workers when it has any, else `pid`."""
    return [child for child in children(pid) if not is_resource_tracker(child)] or [pid]


def tree_rss_mb(pid: int) -> dict[str, float]:
    """RSS of a service and its children in MB, keyed by role: `worker` alone for one process;
    with workers, uvicorn's `supervisor`, multiprocessing's `tracker` and `worker 1`, …"""
    served_by = workers(pid)
    if served_by == [pid]:
        return {"worker": round(rss_mb(pid), 1)}
    out = {"supervisor": round(rss_mb(pid), 1)}
    for child in children(pid):
        if is_resource_tracker(child):
            out["tracker"] = round(rss_mb(child), 1)
    for index, child in enumerate(served_by, start=1):
        out[f"worker {index}"] = round(rss_mb(child), 1)
    return out


def worker_rss_mb(pid: int) -> list[float]:
    return [round(rss_mb(worker), 1) for worker in workers(pid)]


def smaps_mb(pid: int) -> dict[str, float]:
    """RSS, PSS and USS of a process in MB, from /proc/<pid>/smaps_rollup. RSS counts every page
    the process maps, shared ones too (the imports a forked worker shares with its parent); PSS
    splits each shared page between the processes that map it (the sum over processes is their
    real total); USS is what the process alone holds (what stopping it would free)."""
    fields: dict[str, int] = {}
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return {"rss": 0.0, "pss": 0.0, "uss": 0.0}
    for line in text.splitlines()[1:]:
        name, value = line.split(":", 1)
        fields[name] = int(value.split()[0])
    private = fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0)
    return {
        "rss": round(fields.get("Rss", 0) * 1024 / MB, 1),
        "pss": round(fields.get("Pss", 0) * 1024 / MB, 1),
        "uss": round(private * 1024 / MB, 1),
    }


def tree_memory_mb(pid: int) -> dict[str, dict[str, float]]:
    """`tree_rss_mb`'s roles, each with its RSS, PSS and USS (smaps_mb)."""
    roles = {"worker": pid} if workers(pid) == [pid] else {"supervisor": pid}
    if "supervisor" in roles:
        for child in children(pid):
            if is_resource_tracker(child):
                roles["tracker"] = child
        for index, child in enumerate(workers(pid), start=1):
            roles[f"worker {index}"] = child
    return {role: smaps_mb(member) for role, member in roles.items()}


def worker_memory_mb(pid: int) -> list[dict[str, float]]:
    return [smaps_mb(worker) for worker in workers(pid)]


class PeakMemory:
    """`with PeakMemory({"backend": pid}) as peak: ...`, then `peak.result()` in MB.

    Each service is sampled as a tree (the process and its direct children: uvicorn's workers):
    the peak of its largest single process, and the peak of the tree's sum."""

    def __init__(self, pids: dict[str, int], interval: float = 0.005):
        self.pids = pids
        self.interval = interval
        self.before = {name: max(rss_mb(p) for p in tree(pid)) for name, pid in pids.items()}
        self.before_total = {name: sum(rss_mb(p) for p in tree(pid)) for name, pid in pids.items()}
        self.members = {name: tree(pid) for name, pid in pids.items()}
        self.peak_kib = {name: 0 for name in pids}
        self.peak_total_kib = {name: 0 for name in pids}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            for name, members in self.members.items():
                sizes = [status_kib(pid, "VmRSS") for pid in members]
                self.peak_kib[name] = max(self.peak_kib[name], *sizes)
                self.peak_total_kib[name] = max(self.peak_total_kib[name], sum(sizes))
            time.sleep(self.interval)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()

    def result(self) -> dict[str, dict[str, float]]:
        """Per service: the RSS of its largest process before the step, the largest seen during
        it and the difference; the tree's sum before and at its peak (MB)."""
        peaks = {
            name: max(self.peak_kib[name] * 1024 / MB, self.before[name]) for name in self.pids
        }
        return {
            name: {
                "rss_before_mb": round(self.before[name], 1),
                "peak_rss_mb": round(peak, 1),
                "growth_mb": round(peak - self.before[name], 1),
                "processes": len(self.members[name]),
                "total_before_mb": round(self.before_total[name], 1),
                "peak_total_mb": round(
                    max(self.peak_total_kib[name] * 1024 / MB, self.before_total[name]), 1
                ),
            }
            for name, peak in peaks.items()
        }
