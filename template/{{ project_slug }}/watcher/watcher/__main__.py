"""python -m watcher [run | once | now | status | health]

run     check every WATCH_INTERVAL_SECONDS, record the state, send alerts (the container's CMD);
        SIGUSR1 starts a round at once
once    one round, then print the status
now     ask the running watcher for a round at once, wait for it, then print the status (what
        the deploy scripts' status runs: a service restarted a minute ago is seen as it is now)
status  print the last recorded state: first line all well or the problems; exit 1 if any
health  exit 0 when the watcher has recorded a round lately (the container's health check)
"""

from __future__ import annotations

import os
import signal
import sys
import time

from . import checks
from .config import Config, load
from .errors import ConfigError
from .machine import apply, read_state, write_state
from .report import report, stale

NOW_WAIT_S = 45  # a round's probes time out after a few seconds each


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
        now = time.time()  # the round's updated_s: when it began, which `now` compares with
        state = apply(self.config, state, self.starting(self.results(), now), now)
        if self.started is not None:
            state["pid"] = os.getpid()  # whom `now` wakes
        write_state(self.config.state_file, state)
        return state

    def run(self) -> None:
        # SIGUSR1 stays pending while a round runs, so a request made during one is answered by
        # the next round, which begins after it.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
        # As the container's PID 1 a signal without a handler is ignored: `docker stop` would wait
        # its 10 s, then kill.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        while True:
            began = time.monotonic()
            self.round()
            signal.sigtimedwait(
                {signal.SIGUSR1}, max(0.0, self.config.interval - (time.monotonic() - began))
            )


def fresh_round(config: Config) -> str | None:
    """Ask the running watcher for a round and wait until one that began after the request is
    recorded. None when it is; otherwise why the last recorded round is shown instead."""
    asked = time.time()
    try:
        os.kill(int(read_state(config.state_file)["pid"]), signal.SIGUSR1)
    except (KeyError, ValueError, OSError):
        return "the watcher's loop did not answer: its last recorded round follows"
    deadline = time.monotonic() + NOW_WAIT_S
    while time.monotonic() < deadline:
        if read_state(config.state_file).get("updated_s", 0) >= asked:
            return None
        time.sleep(0.2)
    return f"no new round within {NOW_WAIT_S} s: the watcher's last recorded round follows"


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
    if command == "now":
        late = fresh_round(config)
        if late:
            print(f"watcher: {late}", file=sys.stderr)
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
