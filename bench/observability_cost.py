"""What the request ids, JSON access lines and metrics cost the backend on `GET /api/users/me`.

Usage (from the repository root, after scripts/setup.sh; about 2 minutes):
    .venv/bin/python bench/observability_cost.py [--before REF] [--pairs 5] [--seconds 8]

One stack of this tree is booted by its native runner. Beside its backend, the backend of
`--before` (default: the commit before app/core/observability.py appeared, which logged one JSON
line per request and had no ids or metrics) runs from that commit's files, with the same
environment, virtualenv, database, storage and worker count (gunicorn, BACKEND_WORKERS=2).
wrk (-t2 -c16) reads `/api/users/me` with a Bearer token on each backend's own port, the two
alternating (alternate.py). Prints the ratio after / before (target ≥ 0.97) as JSON, and each
side's CPU per request (its gunicorn master and workers, from /proc): on a shared machine the
cores another job takes move req/s a lot more than the CPU a request costs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tarfile
from io import BytesIO
from pathlib import Path

import httpx
from alternate import alternate, spread
from cpu import tree_cpu_seconds
from http_load import Load, run_wrk, write_script
from machine import describe_machine
from support.ports import free_port
from support.processes import start_process, stop_process
from support.project import REPO_ROOT, boot_stack, services_venv, world_readable_tmpdir
from support.waiting import wait_for

BACKEND = "template/{{ project_slug }}/backend"


def commit_before_observability() -> str:
    module = f"{BACKEND}/app/core/observability.py"
    added = subprocess.run(
        ["git", "log", "--diff-filter=A", "--format=%H", "--", module],
        cwd=REPO_ROOT, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    if not added:
        raise SystemExit("no commit adds app/core/observability.py: pass --before REF")
    return f"{added[-1]}^"


def backend_of(ref: str, dest: Path) -> Path:
    """The backend folder as it was at `ref` (git archive: no checkout of the work tree)."""
    archive = subprocess.run(
        ["git", "archive", "--format=tar", ref, BACKEND],
        cwd=REPO_ROOT, capture_output=True, check=True,
    ).stdout  # fmt: skip
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(dest, filter="data")
    return dest / BACKEND


def running_environment(pid: int) -> dict[str, str]:
    """The environment the runner gave its backend (from /proc), to start the other one alike."""
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if b"=" in item)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", help="the git ref to compare with (default: see above)")
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=8)
    args = parser.parse_args()
    before = args.before or commit_before_observability()
    base = world_readable_tmpdir("closo-bench-observability-")
    stack = boot_stack(base / "stack", settings={"BACKEND_WORKERS": "2"})
    other = None
    try:
        env = running_environment(stack.status["services"]["backend"]["pid"])
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # gunicorn.conf.py makes its own, if it has one
        folder = backend_of(before, base / "before")
        port = free_port()
        python = services_venv(stack.project) / "bin" / "python"
        os.chdir(folder)  # gunicorn -c gunicorn.conf.py, app.main: the earlier backend's files
        other = start_process(
            [str(python), "-m", "gunicorn", "-c", "gunicorn.conf.py", "app.main:app",
             "--bind", f"127.0.0.1:{port}"],
            base / "before.log", env=env,
        )  # fmt: skip
        os.chdir(REPO_ROOT)
        after_url = f"http://127.0.0.1:{stack.port('backend')}"
        before_url = f"http://127.0.0.1:{port}"
        wait_for(lambda: answers(f"{before_url}/api/health"), 90, what="the earlier backend")
        token = bearer(after_url, stack.env["FIRST_ADMIN_EMAIL"], stack.env["FIRST_ADMIN_PASSWORD"])
        script = write_script(base / "me.lua", headers={"Authorization": f"Bearer {token}"})
        load = Load(seconds=args.seconds)

        def side(url: str, pid: int):
            def measure() -> dict:
                cpu = tree_cpu_seconds(pid)
                run = run_wrk(f"{url}/api/users/me", script, load)
                run["cpu_us"] = (tree_cpu_seconds(pid) - cpu) / max(run["requests"], 1) * 1e6
                return run

            return measure

        before_side = side(before_url, other.pid)
        after_side = side(after_url, stack.status["services"]["backend"]["pid"])
        before_side(), after_side()  # warm-up
        compared = alternate(before_side, after_side, args.pairs)
        cpu = [[run["cpu_us"] for run in compared[key]["runs"]] for key in ("a", "b")]
        print(json.dumps({
            "machine": describe_machine(),
            "before": before,
            "GET /api/users/me, backend's port, after / before": compared["ratio_b_over_a"],
            "before (req/s, p99 ms)": [compared["a"]["rps"], compared["a"]["p99_ms"]],
            "after (req/s, p99 ms)": [compared["b"]["rps"], compared["b"]["p99_ms"]],
            "backend CPU us per request, after / before": spread(
                [after / before for before, after in zip(*cpu, strict=True)]
            ),
            "backend CPU us per request (before, after)": [
                round(statistics.median(side_cpu)) for side_cpu in cpu
            ],
            "errors": compared["a"]["errors"] + compared["b"]["errors"],
        }, indent=2))  # fmt: skip
    finally:
        if other is not None:
            stop_process(other)
        stack.down()


def answers(url: str) -> bool:
    try:
        return httpx.get(url).status_code == 200
    except httpx.HTTPError:
        return False


def bearer(url: str, email: str, password: str) -> str:
    answer = httpx.post(f"{url}/api/auth/login", data={"username": email, "password": password})
    answer.raise_for_status()
    return answer.json()["access_token"]


if __name__ == "__main__":
    main()
