"""Alert once when a check turns bad, once when it recovers, a reminder every ALERT_REMIND_HOURS
while it stays bad. What was announced lives in the state file, so a restart of the watcher
neither repeats nor forgets an alert, and an event whose delivery failed is tried again."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

from .checks import BAD, OK, Result
from .config import Config
from .notify import Event, send


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def read_state(path: str | Path) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}


def write_state(path: str | Path, state: dict) -> None:
    """Atomically: `status` may read it at any moment."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(state, indent=1, ensure_ascii=False))
    os.replace(tmp, path)


def due_event(check: dict, result: Result, remind_s: float, now: float) -> str | None:
    """What to announce for one check, given what was announced already."""
    announced = check.get("announced", OK)
    if result.state == BAD and announced != BAD:
        return "alert"
    if result.state == OK and announced == BAD:
        return "recovery"
    if result.state == BAD and remind_s > 0 and now - check.get("announced_at", now) >= remind_s:
        return "reminder"
    return None


def apply(config: Config, state: dict, results: list[Result], now: float) -> dict:
    """Record this round's results in `state` and send what is due; returns the state."""
    checks = state.setdefault("checks", {})
    stamp = now_iso()
    for result in results:
        check = checks.setdefault(result.key, {})
        if result.state != check.get("state"):
            check["since"] = stamp
        check.update(state=result.state, summary=result.summary)
        event = due_event(check, result, config.remind_hours * 3600, now)
        if event is None:
            continue
        error = send(
            config,
            Event(event, config.site, result.key, result.summary, check["since"], stamp),
        )
        if error:
            check["delivery_error"] = error
            continue
        check.pop("delivery_error", None)
        check.update(announced=BAD if event != "recovery" else OK, announced_at=now)
    produced = {result.key for result in results}
    for gone in set(checks) - produced:  # a setting changed: that check is no longer made
        del checks[gone]
    state.update(site=config.site, interval=config.interval, updated=stamp, updated_s=now)
    state["problems"] = sorted(k for k, c in checks.items() if c.get("state") == BAD)
    return state
