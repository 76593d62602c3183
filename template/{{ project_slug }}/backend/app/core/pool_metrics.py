"""The database pools' use, as metrics (db_pool_connections{pool, state}): a pool always full
means requests wait for a connection (raise its size, or find the slow query).

Sampled after a request at most once a second per worker: each worker has pools of its own, and
/metrics sums the workers' latest figures (multiprocess mode "livesum")."""

from __future__ import annotations

import time

from app.core.db import account_pool, engine
from app.core.observability import POOL_CONNECTIONS

SAMPLE_EVERY_SECONDS = 1.0
_last_sample = float("-inf")


def sample_pools() -> None:
    global _last_sample
    now = time.monotonic()
    if now - _last_sample < SAMPLE_EVERY_SECONDS:
        return
    _last_sample = now
    orm = engine.pool
    in_use = orm.checkedout()  # type: ignore[attr-defined]
    POOL_CONNECTIONS.labels("orm", "in_use").set(in_use)
    POOL_CONNECTIONS.labels("orm", "idle").set(orm.checkedin())  # type: ignore[attr-defined]
    stats = account_pool.get_stats()
    size, idle = stats.get("pool_size", 0), stats.get("pool_available", 0)
    POOL_CONNECTIONS.labels("accounts", "in_use").set(size - idle)
    POOL_CONNECTIONS.labels("accounts", "idle").set(idle)
