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


def wrk_measure(url: str, script: Path, load: Load, service_pids: dict[str, int]):
    """A measurement of `url` for alternate(): one wrk run with the cores each service used."""

    def measure() -> dict:
        with CpuUsage(service_pids) as cpu:
            measured = run_wrk(url, script, load)
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
        compared = alternate(
            wrk_measure(direct_url + path, script, load, service_pids),
            wrk_measure(edge_url + path, script, load, service_pids),
            pairs,
        )
        results[name] = {
            "direct": compared["a"],
            "edge": compared["b"],
            "edge_over_direct": compared["ratio_b_over_a"],
            "edge_idle_connections_to_backend": established_to(int(direct_url.rsplit(":", 1)[1])),
        }
    return results
