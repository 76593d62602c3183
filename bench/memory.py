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


class PeakMemory:
    """`with PeakMemory({"backend": pid}) as peak: ...`, then `peak.result()` in MB."""

    def __init__(self, pids: dict[str, int], interval: float = 0.005):
        self.pids = pids
        self.interval = interval
        self.before = {name: rss_mb(pid) for name, pid in pids.items()}
        self.peak_kib = {name: 0 for name in pids}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            for name, pid in self.pids.items():
                self.peak_kib[name] = max(self.peak_kib[name], status_kib(pid, "VmRSS"))
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
        """Per process: RSS before the step, the largest seen during it and the difference (MB)."""
        peaks = {
            name: max(self.peak_kib[name] * 1024 / MB, self.before[name]) for name in self.pids
        }
        return {
            name: {
                "rss_before_mb": round(self.before[name], 1),
                "peak_rss_mb": round(peak, 1),
                "growth_mb": round(peak - self.before[name], 1),
            }
            for name, peak in peaks.items()
        }
