"""The state file, told to a person: what `status` prints on the server."""

from __future__ import annotations

MARKS = {"ok": "ok  ", "bad": "FAIL", "unknown": "--  "}


def stale(state: dict, now: float) -> str | None:
    """Why the state cannot be trusted (no round recorded lately), or None."""
    if "updated_s" not in state:
        return "the watcher has recorded no round yet"
    late = now - state["updated_s"]
    if late > 3 * state.get("interval", 60) + 30:
        return f"the watcher has not checked for {late:.0f} s: is it running?"
    return None


def report(state: dict, now: float) -> tuple[str, bool]:
    """(text, all well): the first line says whether all is well, one line per check follows."""
    checks = state.get("checks", {})
    problems = [checks[key]["summary"] for key in state.get("problems", []) if key in checks]
    late = stale(state, now)
    if late:
        problems.insert(0, late)
    if problems:
        first = f"watcher: {len(problems)} problem(s): " + "; ".join(problems)
    else:
        first = f"watcher: all well ({len(checks)} checks, {now - state['updated_s']:.0f} s ago)"
    lines = [first]
    for _, check in sorted(checks.items()):
        since = f" (since {check['since']})" if check.get("state") == "bad" else ""
        lines.append(f"  {MARKS.get(check.get('state'), '?   ')} {check['summary']}{since}")
        if check.get("delivery_error"):
            lines.append(f"       alert not delivered: {check['delivery_error']}")
    return "\n".join(lines), not problems
