"""The watcher's cost and speed: its memory, and the time from a fault to its alert.

Boots the rendered template with its native runner (the watcher runs with the runner's Python, as
in its image, standard library only) with the settings as deployed (WATCH_INTERVAL_SECONDS=60
unless --interval), the alerts going to a loopback webhook receiver. Then, `--faults` times:
storage is stopped (SIGTERM) at a random moment of the watcher's round, the seconds until its
alert arrives are taken, storage is started again and its recovery awaited. Memory: the watcher's
VmRSS after those rounds and its VmHWM (peak over its whole life), in MB (10^6 bytes).

    .venv/bin/python bench/watcher.py [--interval 60] [--faults 3] [--out FILE.json]

Targets (issue 28): RSS <= 30 MB, fault to alert <= 120 s.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import sys
import time
from pathlib import Path

from memory import MB, status_kib
from support.project import boot_stack, world_readable_tmpdir
from support.waiting import wait_for
from support.webhook import webhook_receiver

RSS_TARGET_MB = 30
ALERT_TARGET_S = 120


def one_fault(stack, receiver, interval: float) -> float:
    """Seconds from stopping storage to its alert; storage is back (and recovered) after."""
    before = len(receiver.kinds("health:storage"))
    time.sleep(random.uniform(0, interval))  # noqa: S311 - faults come at any moment of a round
    stopped = time.monotonic()
    os.kill(stack.status["services"]["storage"]["pid"], signal.SIGTERM)
    wait_for(
        lambda: len(receiver.kinds("health:storage")) > before,
        4 * interval + 30,
        interval=0.2,
        what="the storage alert",
    )
    seconds = receiver.deliveries[-1].at - stopped
    stack.up()
    wait_for(
        lambda: len(receiver.kinds("health:storage")) > before + 1,
        4 * interval + 30,
        interval=0.2,
        what="the storage recovery",
    )
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--interval", type=float, default=60, help="WATCH_INTERVAL_SECONDS")
    parser.add_argument("--faults", type=int, default=3)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    base = world_readable_tmpdir("closo-bench-watcher-")
    with webhook_receiver() as receiver:
        stack = boot_stack(
            base,
            settings={
                "WATCH_INTERVAL_SECONDS": f"{args.interval:g}",
                "ALERT_WEBHOOK_URL": receiver.url,
            },
        )
        try:
            alerts = [one_fault(stack, receiver, args.interval) for _ in range(args.faults)]
            pid = stack.refresh()["services"]["watcher"]["pid"]
            results = {
                "interval_s": args.interval,
                "python": sys.version.split()[0],
                "rss_mb": round(status_kib(pid, "VmRSS") * 1024 / MB, 1),
                "peak_rss_mb": round(status_kib(pid, "VmHWM") * 1024 / MB, 1),
                "fault_to_alert_s": [round(s, 1) for s in alerts],
                "fault_to_alert_max_s": round(max(alerts), 1),
                "fault_to_alert_median_s": round(statistics.median(alerts), 1),
            }
        finally:
            stack.down()
    print(json.dumps(results, indent=1))
    print(
        f"watcher RSS {results['rss_mb']} MB (peak {results['peak_rss_mb']}; target <= "
        f"{RSS_TARGET_MB}); fault to alert {results['fault_to_alert_median_s']} s median, "
        f"{results['fault_to_alert_max_s']} s max (target <= {ALERT_TARGET_S})"
    )
    if args.out:
        args.out.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
