"""A comparison this machine can make: the two sides alternate (A B A B …, or A B B A … with
`swap`) and the ratio of each pair is kept, so a change of the machine's speed during the run (it
is shared) moves both sides of a pair alike. The median of the pair ratios is quoted with its
spread (lowest, highest)."""

from __future__ import annotations

import statistics
from collections.abc import Callable

Measure = Callable[[], dict]
FIELDS = ("rps", "p50_ms", "p99_ms")


def spread(values: list[float]) -> dict[str, float]:
    return {
        "median": round(statistics.median(values), 3),
        "low": round(min(values), 3),
        "high": round(max(values), 3),
    }


def summary(runs: list[dict]) -> dict:
    """The median of each field over the runs of one side (what the table prints), and the runs."""
    medians = {key: round(statistics.median(run[key] for run in runs), 2) for key in FIELDS}
    return {
        **runs[0],
        **medians,
        "requests": sum(run["requests"] for run in runs),
        "errors": sum(run["errors"] for run in runs),
        "runs": runs,
    }


def alternate(a: Measure, b: Measure, pairs: int, *, swap: bool = False) -> dict:
    """Runs a, b, a, b, … `pairs` times each; with `swap`, every second pair runs b first (a b,
    b a, a b, …), so neither side always runs right after the other (a warmer cache, or a core
    that another job left). Returns both sides summarised and, per field, the spread of the pair
    ratios b / a (requests/s: > 1 means b is faster; latency: < 1)."""
    a_runs: list[dict] = []
    b_runs: list[dict] = []
    for pair in range(pairs):
        if swap and pair % 2:
            b_runs.append(b())
            a_runs.append(a())
        else:
            a_runs.append(a())
            b_runs.append(b())
    ratios = {
        key: spread([right[key] / left[key] for left, right in zip(a_runs, b_runs, strict=True)])
        for key in FIELDS
    }
    return {"a": summary(a_runs), "b": summary(b_runs), "pairs": pairs, "ratio_b_over_a": ratios}
