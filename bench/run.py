"""Benchmarks of the generated stack: one command, one machine, one run.

Usage (from the repository root, after scripts/setup.sh):
    .venv/bin/python bench/run.py [--smoke] [--no-cold] [--production] [--out bench/results/N.json]

Renders the template, boots the rendered project with its native runner (scripts/local/stack.py)
and measures what users feel: render time, `up` to healthy (cold and warm), requests/s and latency
of the API (wrk) on the backend's port and through the edge, 1 backend worker against 2, the
memory of each worker at idle, logins under load with the backend's memory, a 1 GiB upload and a
256 MiB download through the edge over HTTPS. Comparisons alternate their two sides (A B A B …)
and quote the median of the pair ratios with its spread. Prints a table, checks the targets of
docs/performance.md and writes everything as JSON. --smoke runs the same code with tiny sizes and
durations (seconds). --production then runs bench/production.py in the same command (root, about
8 minutes more): the production containers, deployed by the scripts, measured the same way.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from pathlib import Path

from api_load import measure_api
from boot import cold_boot, warm_boots
from download import measure_download
from http_load import Load
from login import measure_login
from machine import describe_machine
from memory import (
    tree_memory_mb,
    tree_rss_mb,
    worker_memory_mb,
    worker_rss_mb,
)
from render import measure_render
from report import check_targets, format_table
from support.project import render, set_settings, template_snapshot, world_readable_tmpdir
from transfer import upload
from users import create_account
from worker_scaling import measure_workers

BENCH_DIR = Path(__file__).resolve().parent

# The bench stack's settings.env: logins are not rate-limited per address (all the load comes
# from 127.0.0.1), a 1 GiB upload fits under the size limit and the user's quota, and the bench
# signs its account up through the API as a visitor would (the default is invitations only).
BENCH_SETTINGS = {
    "AUTH_RATE_PER_MINUTE": "100000",
    "REGISTRATION": "open",
    "MAX_UPLOAD_MB": "1100",
    "USER_QUOTA_MB": "4096",
}


@dataclass(frozen=True)
class Plan:
    render_runs: int
    warm_boots: int
    cold_boot: bool
    load: Load
    warmup_seconds: int
    pairs: int  # runs of each side of a comparison, alternating
    upload_mib: int
    download_mib: int
    download_runs: int


FULL = Plan(
    render_runs=5,
    warm_boots=3,
    cold_boot=True,
    load=Load(connections=16, threads=2, seconds=8),
    warmup_seconds=2,
    pairs=3,
    upload_mib=1024,
    download_mib=256,
    download_runs=5,
)
SMOKE = Plan(
    render_runs=1,
    warm_boots=1,
    cold_boot=False,
    load=Load(connections=16, threads=2, seconds=1),
    warmup_seconds=0,
    pairs=2,
    upload_mib=1,
    download_mib=1,
    download_runs=1,
)


def measure(
    plan: Plan, base: Path, log: Callable[[str], None], backend_workers: str | None = None
) -> dict:
    settings = {
        **BENCH_SETTINGS,
        **({"BACKEND_WORKERS": backend_workers} if backend_workers else {}),
    }
    results: dict = {"settings": settings}
    log("render")
    source = template_snapshot(base / "template")
    results["render"] = measure_render(source, base / "renders", plan.render_runs)
    project = render(base / "project")
    set_settings(project, **settings)
    if plan.cold_boot:
        log("up, cold (builds a virtualenv from the package index)")
        results["up_cold"] = cold_boot(project, base)
    else:
        results["up_cold"] = {"skipped": "not measured (--smoke or --no-cold)"}
    log("up, warm")
    results["up_warm"], stack = warm_boots(project, base, plan.warm_boots)
    try:
        services = stack.status["services"]
        pids = {name: services[name]["pid"] for name in ("backend", "storage", "nginx", "postgres")}
        python_services = {name: pids[name] for name in ("backend", "storage")}
        # Each process of each Python service (uvicorn's supervisor, then its workers), and the
        # largest process that serves requests: the per-worker target.
        results["idle_rss_mb"] = {name: tree_rss_mb(pid) for name, pid in python_services.items()}
        results["idle_rss_per_worker_max_mb"] = max(
            rss for pid in python_services.values() for rss in worker_rss_mb(pid)
        )
        # The same processes with what they share counted once (PSS) and what each holds alone
        # (USS): forked workers share the imports with their parent (gunicorn.conf.py: preload_app).
        results["idle_memory_mb"] = {
            name: tree_memory_mb(pid) for name, pid in python_services.items()
        }
        backend_workers = worker_memory_mb(python_services["backend"])
        results["idle_pss_per_worker_max_mb"] = max(m["pss"] for m in backend_workers)
        results["idle_uss_per_worker_max_mb"] = max(m["uss"] for m in backend_workers)
        cafile = str(stack.state_dir / "tls" / "selfsigned.crt")
        account = create_account(stack.url, cafile)
        direct = f"http://127.0.0.1:{stack.port('backend')}"
        # Transfers first, on a backend that has only just started: its memory is then the
        # upload's own. Logins (argon2id) come last: glibc keeps what they took (~40 MB).
        log(f"upload {plan.upload_mib} MiB")
        results["upload"] = upload(
            stack.url, cafile, account, plan.upload_mib, python_services, pids
        )
        log(f"download {plan.download_mib} MiB")
        results["download"] = measure_download(
            stack.url, cafile, stack.state_dir, account, plan.download_mib, plan.download_runs
        )
        log("API load (wrk)")
        results["api"] = measure_api(
            direct, stack.url, account.token, plan.load, base, plan.warmup_seconds, pids, plan.pairs
        )
        log("1 worker against 2 (wrk)")
        results["workers"] = measure_workers(
            project,
            stack.state_dir,
            account.token,
            plan.load,
            base,
            plan.warmup_seconds,
            plan.pairs,
            pids["postgres"],
        )
        log("logins")
        results["login"] = measure_login(stack.url, account, pids, plan.load, base)
    finally:
        log("down")
        started = time.perf_counter()
        stack.down()
        results["down_s"] = round(time.perf_counter() - started, 2)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes and durations (seconds)")
    parser.add_argument("--no-cold", action="store_true", help="skip the cold `up` (needs PyPI)")
    parser.add_argument("--out", type=Path, help="JSON file (default: bench/results/<time>.json)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs, data)")
    parser.add_argument(
        "--backend-workers",
        metavar="N",
        help="BACKEND_WORKERS of the booted stack (default: settings.env's, one per core)",
    )
    parser.add_argument(
        "--production",
        action="store_true",
        help="then measure the production containers too (bench/production.py; root)",
    )
    args = parser.parse_args()
    plan = SMOKE if args.smoke else FULL
    if args.no_cold:
        plan = replace(plan, cold_boot=False)
    out = args.out or BENCH_DIR / "results" / f"{datetime.now():%Y%m%d-%H%M%S}.json"

    started = time.monotonic()

    def log(step: str) -> None:
        print(f"[{time.monotonic() - started:6.1f} s] {step}", file=sys.stderr, flush=True)

    base = world_readable_tmpdir("closo-bench-")
    try:
        results = {
            "mode": "smoke" if args.smoke else "full",
            "machine": describe_machine(),
            "plan": asdict(plan),
            **measure(plan, base, log, args.backend_workers),
        }
    finally:
        if args.keep:
            print(f"work folder kept: {base}", file=sys.stderr)
        else:
            shutil.rmtree(base, ignore_errors=True)
    results["targets"] = check_targets(results)
    results["duration_s"] = round(time.monotonic() - started, 1)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(format_table(results))
    print(f"\n{results['mode']} run in {results['duration_s']} s; results in {out}")
    if args.production:
        # Its own process: it needs root and the tests' Docker engine, and prints its own table.
        production = [sys.executable, str(BENCH_DIR / "production.py")]
        production_out = out.with_name(f"{out.stem}-production.json")
        return subprocess.run([*production, "--out", str(production_out)]).returncode
    return 0


if __name__ == "__main__":
    sys.exit(main())
