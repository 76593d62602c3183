"""Steady, bounded HTTP load against the edge, and a client that retries only what is safe.

`steady_load` sends requests at a fixed rate for a fixed time from a few threads, then stops by
itself; every request goes to one address given by the caller (the tests' own namespace or
loopback), with the site's name as Host and TLS server name. A request is `failed` when its final
answer is not the expected status; with `retry_safe=True` a GET is retried (twice, after 0.5 s)
on a connection error, a timeout or a 502/503/504, and a POST only when the connection could not
be opened (nothing was sent), which is what a careful client does. `retried` counts the retries.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx

from support.docker.site import https_client

RETRIED_STATUSES = {502, 503, 504}


def edge_client(address: str, port: int, domain: str, timeout: float = 30) -> httpx.Client:
    """HTTPS to the edge at address:port for `domain` (the placeholder certificate: unverified)."""
    return https_client(domain, address=address, port=port, timeout=timeout)


@dataclass
class LoadResult:
    sent: int = 0
    failed: int = 0
    retried: int = 0
    errors: Counter = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    duration: float = 0.0

    def summary(self) -> str:
        slowest = max(self.latencies, default=0)
        return (
            f"{self.sent} requests, {self.failed} failed, {self.retried} retried, slowest "
            f"{slowest:.2f} s in {self.duration:.1f} s; errors: {dict(self.errors)}"
        )


def _once(client: httpx.Client, kind: str, token: str, expected: dict[str, int]) -> str:
    """One request of `kind`; '' when it got its expected status, else what went wrong."""
    headers = {"Authorization": f"Bearer {token}"}
    if kind == "read":
        answer = client.get("/api/users/me", headers=headers)
    else:
        content = os.urandom(20_000)
        answer = client.post(
            "/api/upload", headers=headers, files={"file": ("load.bin", content, "text/plain")}
        )
    return "" if answer.status_code == expected[kind] else f"{kind} {answer.status_code}"


def steady_load(
    client_factory,
    token: str,
    *,
    seconds: float,
    rate: float,
    kinds: tuple[str, ...] = ("read",),
    retry_safe: bool = False,
    stop: threading.Event | None = None,
) -> LoadResult:
    """`rate` requests a second for `seconds` (kinds in turn), from up to 8 threads."""
    result, lock = LoadResult(), threading.Lock()
    expected = {"read": 200, "upload": 201}
    total = int(seconds * rate)
    start = time.monotonic()

    def one(index: int) -> None:
        kind = kinds[index % len(kinds)]
        began = time.monotonic()
        outcome, retries = "", 0
        with client_factory() as client:
            for attempt in range(3):
                try:
                    outcome = _once(client, kind, token, expected)
                except httpx.ConnectError as error:
                    outcome = f"{kind} {type(error).__name__}"
                    retryable = True
                except httpx.HTTPError as error:
                    outcome = f"{kind} {type(error).__name__}"
                    retryable = kind == "read"
                else:
                    retryable = kind == "read" and outcome.endswith(
                        tuple(str(s) for s in RETRIED_STATUSES)
                    )
                if not outcome or not retry_safe or not retryable or attempt == 2:
                    break
                retries += 1
                time.sleep(0.5)
        with lock:
            result.sent += 1
            result.retried += retries
            result.latencies.append(time.monotonic() - began)
            if outcome:
                result.failed += 1
                result.errors[outcome] += 1

    threads: list[threading.Thread] = []
    for index in range(total):
        if stop is not None and stop.is_set():
            break
        delay = start + index / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        while sum(t.is_alive() for t in threads) >= 8:
            time.sleep(0.01)
        thread = threading.Thread(target=one, args=(index,))
        thread.start()
        threads.append(thread)
    for thread in threads:
        thread.join(timeout=120)
    result.duration = time.monotonic() - start
    return result


class Background:
    """steady_load in a thread: `with Background(...) as load: ...; load.result`."""

    def __init__(self, *args, **kwargs) -> None:
        self.result: LoadResult | None = None
        self.stop = threading.Event()
        kwargs["stop"] = self.stop
        self._thread = threading.Thread(target=self._run, args=args, kwargs=kwargs)

    def _run(self, *args, **kwargs) -> None:
        self.result = steady_load(*args, **kwargs)

    def __enter__(self) -> Background:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is not None:
            self.stop.set()
        self._thread.join(timeout=600)

    def wait(self) -> LoadResult:
        self._thread.join(timeout=600)
        assert self.result is not None
        return self.result
