"""python -m watcher [run | once | status | health]

run     check every WATCH_INTERVAL_SECONDS, record the state, send alerts (the container's CMD)
once    one round, then print the status
status  print the last recorded state: first line all well or the problems; exit 1 if any
health  exit 0 when the watcher has recorded a round lately (the container's health check)
"""

from __future__ import annotations

import sys
import time

from . import checks
from .config import Config, load
from .errors import ConfigError
from .machine import apply, read_state, write_state
from .report import report, stale


class Watcher:
    def __init__(self, config: Config, started: float | None = None):
        """`started`: when the loop began (`run`), for the start grace; None for one round."""
        self.config = config
        self.started = started
        self.restarts = checks.RestartTracker()
        self.traffic = checks.Traffic()

    def starting(self, results: list[checks.Result], now: float) -> list[checks.Result]:
        """In the start grace, a bad result is recorded as unknown, with why (no alert)."""
        if self.started is None or now - self.started >= self.config.start_grace:
            return results
        note = f" (not judged in the watcher's first {self.config.start_grace:g} s: starting)"
        return [
            checks.Result(r.key, checks.UNKNOWN, r.summary + note) if r.state == checks.BAD else r
            for r in results
        ]

    def results(self) -> list[checks.Result]:
        config, now = self.config, time.time()
        found = []
        for name, url in config.health.items():
            own, *needs = checks.health(config, name, url)
            found += [own, self.restarts.observe(config, own, now), *needs]
        found += checks.edge_and_certificate(config)
        found += checks.disks(config)
        found.append(checks.memory(config))
        for name, url in config.metrics.items():
            found += self.traffic.check(config, name, url, now)
        found += checks.backups(config)
        return found

    def round(self) -> dict:
        state = read_state(self.config.state_file)
        now = time.time()
        state = apply(self.config, state, self.starting(self.results(), now), now)
        write_state(self.config.state_file, state)
        return state

    def run(self) -> None:
        while True:
            began = time.monotonic()
            self.round()
            time.sleep(max(0.0, self.config.interval - (time.monotonic() - began)))


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "run"
    try:
        config = load()
    except ConfigError as error:
        print(f"watcher: {error}", file=sys.stderr)
        return 2
    if command == "run":
        print(f"watcher: checking every {config.interval:g} s", flush=True)
        try:
            Watcher(config, started=time.time()).run()
        except KeyboardInterrupt:
            return 0
    if command == "once":
        Watcher(config).round()
        command = "status"
    if command == "status":
        text, well = report(read_state(config.state_file), time.time())
        print(text)
        return 0 if well else 1
    if command == "health":
        return 1 if stale(read_state(config.state_file), time.time()) else 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
