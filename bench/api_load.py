"""Requests/s and latency of two API endpoints, on the backend directly and through the edge,
the two alternating (alternate.py)."""

from __future__ import annotations

from pathlib import Path

from alternate import alternate
from cpu import CpuUsage
from http_load import Load, run_wrk, write_script

ENDPOINTS = {"health": "/api/health", "users_me": "/api/users/me"}


def established_to(port: int) -> int:
    """TCP connections to 127.0.0.1:`port` in state ESTABLISHED, client side (/proc/net/tcp).

    After the edge's runs, the edge's keep-alive pool holds its idle connections to the backend
    open; without a pool each request's connection is closed as soon as it is answered."""
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        remote, state = fields[2], fields[3]
        if state == "01" and remote == f"0100007F:{port:04X}":
            count += 1
    return count


def bearer_script(workdir: Path, token: str) -> Path:
    return write_script(workdir / "bearer.lua", headers={"Authorization": f"Bearer {token}"})


def wrk_measure(
    url: str,
    script: Path,
    load: Load,
    service_pids: dict[str, int],
    pooled_port: int | None = None,
):
    """A measurement of `url` for alternate(): one wrk run with the cores each service used; with
    `pooled_port`, the connections to it still open the moment wrk is done (the edge closes idle
    ones after 4 s, so they are counted at once)."""

    def measure() -> dict:
        with CpuUsage(service_pids) as cpu:
            measured = run_wrk(url, script, load)
        if pooled_port is not None:
            measured["idle_connections_after"] = established_to(pooled_port)
        return {"url": url, **measured, "cpu_cores": cpu.result()}

    return measure


def measure_api(
    direct_url: str,
    edge_url: str,
    token: str,
    load: Load,
    workdir: Path,
    warmup_seconds: int,
    service_pids: dict[str, int],
    pairs: int,
) -> dict:
    """Per endpoint: `pairs` wrk runs on the backend's port alternating with as many through the
    edge; the Bearer token goes to both endpoints, as a signed-in page would send it. Returns
    {endpoint: {"direct", "edge": medians and runs, "edge_over_direct": pair ratios}}."""
    script = bearer_script(workdir, token)
    results: dict[str, dict] = {}
    for name, path in ENDPOINTS.items():
        if warmup_seconds:
            for base in (direct_url, edge_url):
                run_wrk(base + path, script, Load(load.connections, load.threads, warmup_seconds))
        backend_port = int(direct_url.rsplit(":", 1)[1])
        compared = alternate(
            wrk_measure(direct_url + path, script, load, service_pids),
            wrk_measure(edge_url + path, script, load, service_pids, backend_port),
            pairs,
        )
        results[name] = {
            "direct": compared["a"],
            "edge": compared["b"],
            "edge_over_direct": compared["ratio_b_over_a"],
            # The most seen after one of the edge's runs (a busy moment may delay a count past
            # the pool's 4 s); each run's count is in its entry.
            "edge_idle_connections_to_backend": max(
                run["idle_connections_after"] for run in compared["b"]["runs"]
            ),
        }
    return results
