"""Sign-ins under load: 16 clients logging in again and again through the edge, while the
backend's resident memory is sampled (each argon2id check takes 19 MiB and one core)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode

from cpu import CpuUsage
from http_load import Load, run_wrk, write_script
from memory import PeakMemory
from users import Account


def measure_login(
    edge_url: str, account: Account, service_pids: dict[str, int], load: Load, workdir: Path
) -> dict:
    script = write_script(
        workdir / "login.lua",
        method="POST",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        body=urlencode({"username": account.email, "password": account.password}),
    )
    url = f"{edge_url}/api/auth/login"
    with PeakMemory({"backend": service_pids["backend"]}) as memory, CpuUsage(service_pids) as cpu:
        result = run_wrk(url, script, load)
    return {"url": url, **result, "memory": memory.result(), "cpu_cores": cpu.result()}
