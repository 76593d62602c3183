"""Requests/s and latency of two API endpoints, on the backend directly and through the edge."""

from __future__ import annotations

from pathlib import Path

from cpu import CpuUsage
from http_load import Load, run_wrk, write_script

ENDPOINTS = {"health": "/api/health", "users_me": "/api/users/me"}


def measure_api(
    direct_url: str,
    edge_url: str,
    token: str,
    load: Load,
    workdir: Path,
    warmup_seconds: int,
    service_pids: dict[str, int],
) -> dict:
    """wrk on every (endpoint, path) pair; the Bearer token goes to both endpoints, as a signed-in
    page would send it. Returns {endpoint: {"direct"/"edge": wrk result and cores used}}."""
    script = write_script(workdir / "bearer.lua", headers={"Authorization": f"Bearer {token}"})
    results: dict[str, dict] = {}
    for name, path in ENDPOINTS.items():
        results[name] = {}
        for route, base in (("direct", direct_url), ("edge", edge_url)):
            url = base + path
            if warmup_seconds:
                run_wrk(url, script, Load(load.connections, load.threads, warmup_seconds))
            with CpuUsage(service_pids) as cpu:
                measured = run_wrk(url, script, load)
            results[name][route] = {"url": url, **measured, "cpu_cores": cpu.result()}
    return results
