"""5xx rate and p95 latency over the last minutes, from a service's Prometheus text.

The families are found by their usual names, so the common FastAPI exporters all fit: a counter
`*requests_total` with a `status` or `status_code` label, a histogram
`*request_duration_seconds` (buckets `le`). Sums over every label set (routes, methods), except
the health and metrics routes: the checks' own requests (a readiness answering 503 while storage
is down, every round) are not visitors' errors, and storage's outage has its own alert."""

from __future__ import annotations

import math
import re
from collections import deque
from dataclasses import dataclass, field

WINDOW_S = 300
SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


@dataclass
class Sample:
    at: float
    requests: float = 0.0
    errors: float = 0.0
    buckets: dict[float, float] = field(default_factory=dict)


def parse(text: str, at: float) -> Sample | None:
    """The request totals in one scrape; None when it has no request counter."""
    sample, counted = Sample(at), False
    for line in text.splitlines():
        match = SAMPLE.match(line)
        if not match or line.startswith("#"):
            continue
        name, labels, value = match.group(1), dict(LABEL.findall(match.group(2) or "")), match[3]
        try:
            number = float(value)
        except ValueError:
            continue
        route = labels.get("route", labels.get("handler", labels.get("path", "")))
        if "/health" in route or route == "/metrics":
            continue
        if name.endswith("requests_total") and not name.endswith("_in_progress"):
            status = labels.get("status", labels.get("status_code", ""))
            sample.requests += number
            sample.errors += number if status.startswith("5") else 0
            counted = True
        elif name.endswith("request_duration_seconds_bucket") and "le" in labels:
            bound = math.inf if labels["le"] == "+Inf" else float(labels["le"])
            sample.buckets[bound] = sample.buckets.get(bound, 0.0) + number
    return sample if counted else None


def p95_seconds(old: dict[float, float], new: dict[float, float]) -> float | None:
    """The 95th percentile of the requests between two scrapes (linear within a bucket, as
    Prometheus's histogram_quantile); None without requests."""
    bounds = sorted(new)
    deltas = [new[b] - old.get(b, 0.0) for b in bounds]
    if not deltas or deltas[-1] <= 0:
        return None
    rank, below, lower = 0.95 * deltas[-1], 0.0, 0.0
    for bound, cumulative in zip(bounds, deltas, strict=True):
        if cumulative >= rank:
            if math.isinf(bound):
                return lower  # beyond the last finite bucket: its bound is all that is known
            share = (rank - below) / max(cumulative - below, 1e-9)
            return lower + (bound - lower) * share
        below, lower = cumulative, bound
    return lower


class Window:
    """The scrapes of one replica of a service over the last WINDOW_S seconds (each replica counts
    from its own start: several share a window only in their sum, see combined)."""

    def __init__(self) -> None:
        self.samples: deque[Sample] = deque()

    def add(self, sample: Sample) -> None:
        if self.samples and sample.requests < self.samples[-1].requests:
            self.samples.clear()  # the counters started again (a restart): older scrapes lie
        self.samples.append(sample)
        while len(self.samples) > 2 and sample.at - self.samples[1].at >= WINDOW_S:
            self.samples.popleft()

    def figures(self) -> tuple[float, float, float | None] | None:
        """(requests, 5xx share in %, p95 in ms) since the oldest scrape kept; None until two."""
        return combined([self])


def combined(windows: list[Window]) -> tuple[float, float, float | None] | None:
    """The figures of a service's replicas together: their requests, errors and latency buckets
    between each one's oldest and newest scrape, summed; None until one has two scrapes."""
    spans = [(w.samples[0], w.samples[-1]) for w in windows if len(w.samples) >= 2]
    if not spans:
        return None
    requests = sum(new.requests - old.requests for old, new in spans)
    errors = sum(new.errors - old.errors for old, new in spans)
    share = 100.0 * errors / requests if requests > 0 else 0.0
    first: dict[float, float] = {}
    last: dict[float, float] = {}
    for old, new in spans:
        for bound, count in new.buckets.items():
            first[bound] = first.get(bound, 0.0) + old.buckets.get(bound, 0.0)
            last[bound] = last.get(bound, 0.0) + count
    p95 = p95_seconds(first, last)
    return requests, share, None if p95 is None else p95 * 1000
