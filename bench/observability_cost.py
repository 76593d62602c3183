"""What the request ids, JSON access lines and metrics cost the backend on `GET /api/users/me`.

Usage (from the repository root, after scripts/setup.sh; about 2 minutes):
    .venv/bin/python bench/observability_cost.py [--before REF] [--pairs 5] [--seconds 8]

One stack of this tree is booted by its native runner: its database, storage and environment
serve both sides, and its own backend signs the admin in, then idles (it is not measured). The
bench starts two more backends the same way, one after the other (the stack's virtualenv, the
environment the runner gave its backend, `gunicorn -c gunicorn.conf.py app.main:app` with
BACKEND_WORKERS=2, the output in a file of its own; started at once, the first started cost less
CPU per request, docs/performance.md): "after" from a copy of the booted project's backend
folder (this tree's work tree, as rendered), "before" from `--before` (default: the commit
before app/core/observability.py appeared, which logged one JSON line per request and had no ids
or metrics; `--before HEAD` is the control, the same code on both sides save for uncommitted
changes). wrk (-t2 -c16) reads `/api/users/me` with a Bearer token on each backend's port, the
two alternating, the first of each pair in turn (alternate.py, swap). Prints the ratio after /
before (target ≥ 0.97) as JSON, and each side's CPU per request (its gunicorn master and workers,
from /proc): on a shared machine the cores another job takes move req/s a lot more than the CPU
a request costs.
"""

from __future__ import annotations

import argparse
import json
import shutil
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
from support.processes import stop_process
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
    """The backend folder as it was at `ref` (git archive: no checkout of the work tree), as
    `dest`/backend: the same path, but for one name, as the other side's."""
    archive = subprocess.run(
        ["git", "archive", "--format=tar", ref, BACKEND],
        cwd=REPO_ROOT, capture_output=True, check=True,
    ).stdout  # fmt: skip
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(dest / "archive", filter="data")
    return (dest / "archive" / BACKEND).rename(dest / "backend")


def running_environment(pid: int) -> dict[str, str]:
    """The environment the runner gave its backend (from /proc), to start the others alike."""
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if b"=" in item)


def start_backend(
    python: Path, folder: Path, env: dict[str, str], log: Path
) -> tuple[subprocess.Popen, str]:
    """The runner's command (stack/services.py), its session and a log file, from `folder`;
    returns the process and its URL."""
    port = free_port()
    with log.open("ab") as out:
        process = subprocess.Popen(
            [str(python), "-m", "gunicorn", "-c", "gunicorn.conf.py", "app.main:app",
             "--bind", f"127.0.0.1:{port}"],
            cwd=folder, env=env, stdout=out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
    return process, f"http://127.0.0.1:{port}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", help="the git ref to compare with (default: see above)")
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=8)
    args = parser.parse_args()
    before = args.before or commit_before_observability()
    base = world_readable_tmpdir("closo-bench-observability-")
    stack = boot_stack(base / "stack", settings={"BACKEND_WORKERS": "2"})
    backends: dict[str, tuple[subprocess.Popen, str]] = {}
    try:
        env = running_environment(stack.status["services"]["backend"]["pid"])
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # gunicorn.conf.py makes its own, if it has one
        rendered = next(stack.project.glob("*/backend"))
        folders = {
            "after": Path(shutil.copytree(rendered, base / "after" / "backend",
                                          ignore=shutil.ignore_patterns("__pycache__"))),
            "before": backend_of(before, base / "before"),
        }  # fmt: skip
        python = services_venv(stack.project) / "bin" / "python"
        for name, folder in folders.items():  # one at a time: neither imports beside the other
            backends[name] = start_backend(python, folder, env, base / f"{name}.log")
            url = backends[name][1]
            wait_for(lambda url=url: answers(f"{url}/api/health"), 90, what=f"the {name} backend")
        stack_url = f"http://127.0.0.1:{stack.port('backend')}"
        token = bearer(stack_url, stack.env["FIRST_ADMIN_EMAIL"], stack.env["FIRST_ADMIN_PASSWORD"])
        script = write_script(base / "me.lua", headers={"Authorization": f"Bearer {token}"})
        load = Load(seconds=args.seconds)

        def side(process: subprocess.Popen, url: str):
            def measure() -> dict:
                cpu = tree_cpu_seconds(process.pid)
                run = run_wrk(f"{url}/api/users/me", script, load)
                run["cpu_us"] = (
                    (tree_cpu_seconds(process.pid) - cpu) / max(run["requests"], 1) * 1e6
                )
                return run

            return measure

        before_side, after_side = side(*backends["before"]), side(*backends["after"])
        before_side(), after_side()  # warm-up
        compared = alternate(before_side, after_side, args.pairs, swap=True)
        cpu = [[run["cpu_us"] for run in compared[key]["runs"]] for key in ("a", "b")]
        print(json.dumps({
            "machine": describe_machine(),
            "before": before,
            "GET /api/users/me, after / before": compared["ratio_b_over_a"],
            "before (req/s, p99 ms)": [compared["a"]["rps"], compared["a"]["p99_ms"]],
            "after (req/s, p99 ms)": [compared["b"]["rps"], compared["b"]["p99_ms"]],
            "backend CPU us per request, after / before": spread(
                [after / before for before, after in zip(*cpu, strict=True)]
            ),
            "backend CPU us per request (before, after)": [
                round(statistics.median(side_cpu)) for side_cpu in cpu
            ],
            "each pair (req/s before, after; CPU us before, after)": [
                [round(x["rps"]), round(y["rps"]), round(x["cpu_us"]), round(y["cpu_us"])]
                for x, y in zip(compared["a"]["runs"], compared["b"]["runs"], strict=True)
            ],
            "errors": compared["a"]["errors"] + compared["b"]["errors"],
        }, indent=2))  # fmt: skip
    finally:
        for process, _ in backends.values():
            stop_process(process)
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
