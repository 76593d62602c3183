"""What the metrics and request ids cost the backend on `GET /api/users/me`.

Usage (from the repository root, after scripts/setup.sh; about 30 s a pair):
    .venv/bin/python bench/observability_cost.py [--before no-metrics|REF] [--pairs 5] [--seconds 8]

One stack of this tree is booted by its native runner: its database, storage and environment
serve both sides, and its own backend signs the admin in, then idles (it is not measured). The
bench starts two more backends the same way, one after the other (the stack's virtualenv, the
environment the runner gave its backend, `gunicorn -c gunicorn.conf.py app.main:app` with
BACKEND_WORKERS=2, the output in a file of its own): "after" from a copy of the booted project's
backend folder (this tree's work tree, as rendered), "before" from `--before`:
- `no-metrics` (the default): the same copy with the metrics made no-ops (the lines this bench
  adds at the end of app/core/observability.py): what the metrics cost, the rest alike (the ids,
  the JSON access line that the backend wrote before them too);
- a git ref: the backend folder as it was then. `HEAD` is the control (the same code on both
  sides, save for uncommitted changes). An older commit differs in more than observability:
  before `b2d7b67`, GET /api/users/me did not read the account's pending address (one more
  query now, when mail is on).
wrk (-t2 -c16) reads `/api/users/me` with a Bearer token on each backend's port. Every pair has
two fresh processes, started, warmed up (2 s) and measured one after the other, "after" first in
even pairs and "before" first in odd ones, then stopped: one process's luck or start order stays
in its pair. Prints the ratio after / before (target ≥ 0.97) as JSON, and each side's CPU per
request (its gunicorn master and workers, from /proc): on a shared machine the cores another job
takes move req/s a lot more than the CPU a request costs.
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
from alternate import spread, summary
from cpu import tree_cpu_seconds
from http_load import Load, run_wrk, write_script
from machine import describe_machine
from support.ports import free_port
from support.processes import stop_process
from support.project import REPO_ROOT, boot_stack, services_venv, world_readable_tmpdir
from support.waiting import wait_for

BACKEND = "template/{{ project_slug }}/backend"


NO_METRICS = "no-metrics"
# Appended to the "before" copy's app/core/observability.py: every metric it defines becomes an
# object that takes the same calls and does nothing.
METRICS_OFF = """

# Added by bench/observability_cost.py: the metrics off, everything else as built.
class _Off:
    def labels(self, *_labels):
        return self

    def inc(self, *_amount):
        pass

    dec = observe = set = inc


REQUESTS = LATENCY = IN_FLIGHT = POOL_CONNECTIONS = _Off()
"""


def copy_backend(rendered: Path, dest: Path) -> Path:
    """The rendered backend folder as `dest`/backend (no bytecode: each side compiles its own)."""
    return Path(
        shutil.copytree(rendered, dest / "backend", ignore=shutil.ignore_patterns("__pycache__"))
    )


def backend_without_metrics(rendered: Path, dest: Path) -> Path:
    folder = copy_backend(rendered, dest)
    module = folder / "app" / "core" / "observability.py"
    text = module.read_text()
    for name in ("REQUESTS", "LATENCY", "IN_FLIGHT", "POOL_CONNECTIONS"):
        if f"\n{name} = " not in text:
            raise SystemExit(f"app/core/observability.py defines no {name} now: update METRICS_OFF")
    module.write_text(text + METRICS_OFF)
    return folder


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
    parser.add_argument(
        "--before", default=NO_METRICS, help="no-metrics or a git ref to compare with (see above)"
    )
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=8)
    args = parser.parse_args()
    before = args.before
    base = world_readable_tmpdir("closo-bench-observability-")
    stack = boot_stack(base / "stack", settings={"BACKEND_WORKERS": "2"})
    try:
        env = running_environment(stack.status["services"]["backend"]["pid"])
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # gunicorn.conf.py makes its own, if it has one
        rendered = next(stack.project.glob("*/backend"))
        folders = {
            "after": copy_backend(rendered, base / "after"),
            "before": backend_without_metrics(rendered, base / "before")
            if before == NO_METRICS
            else backend_of(before, base / "before"),
        }  # fmt: skip
        python = services_venv(stack.project) / "bin" / "python"
        stack_url = f"http://127.0.0.1:{stack.port('backend')}"
        token = bearer(stack_url, stack.env["FIRST_ADMIN_EMAIL"], stack.env["FIRST_ADMIN_PASSWORD"])
        script = write_script(base / "me.lua", headers={"Authorization": f"Bearer {token}"})
        load = Load(seconds=args.seconds)

        def measure(process: subprocess.Popen, url: str) -> dict:
            cpu = tree_cpu_seconds(process.pid)
            run = run_wrk(f"{url}/api/users/me", script, load)
            run["cpu_us"] = (tree_cpu_seconds(process.pid) - cpu) / max(run["requests"], 1) * 1e6
            return run

        runs: dict[str, list[dict]] = {"before": [], "after": []}
        for pair in range(args.pairs):
            # Fresh processes for every pair, started and measured in turn "after" first, then
            # "before" first: one process's luck (its hash seed, where its memory and its workers
            # land) or its start order is one pair's, not the whole run's (one pair of processes
            # for a whole run made the same code 7 % slower on one side, docs/performance.md).
            order = ("after", "before") if pair % 2 == 0 else ("before", "after")
            backends: dict[str, tuple[subprocess.Popen, str]] = {}
            try:
                for name in order:  # one at a time: neither imports beside the other
                    backends[name] = start_backend(python, folders[name], env, base / f"{name}.log")
                    url = backends[name][1]
                    wait_for(
                        lambda url=url: answers(f"{url}/api/health"), 90, what=f"the {name} backend"
                    )
                for name in order:  # warm-up: the workers' first requests, the pool's connections
                    run_wrk(f"{backends[name][1]}/api/users/me", script, Load(seconds=2))
                for name in order:
                    runs[name].append(measure(*backends[name]))
                if before == NO_METRICS and pair == 0:
                    check_metrics_off(backends["before"][1], backends["after"][1])
            finally:
                for process, _ in backends.values():
                    stop_process(process)
        pairs = list(zip(runs["before"], runs["after"], strict=True))
        print(json.dumps({
            "machine": describe_machine(),
            "before": before,
            "GET /api/users/me, after / before": {
                key: spread([after[key] / before[key] for before, after in pairs])
                for key in ("rps", "p50_ms", "p99_ms")
            },
            "before (req/s, p99 ms)": [summary(runs["before"])[key] for key in ("rps", "p99_ms")],
            "after (req/s, p99 ms)": [summary(runs["after"])[key] for key in ("rps", "p99_ms")],
            "backend CPU us per request, after / before": spread(
                [after["cpu_us"] / before["cpu_us"] for before, after in pairs]
            ),
            "backend CPU us per request (before, after)": [
                round(statistics.median(run["cpu_us"] for run in runs[name]))
                for name in ("before", "after")
            ],
            "each pair (req/s before, after; CPU us before, after)": [
                [round(x["rps"]), round(y["rps"]), round(x["cpu_us"]), round(y["cpu_us"])]
                for x, y in pairs
            ],
            "errors": sum(run["errors"] for side in runs.values() for run in side),
        }, indent=2))  # fmt: skip
    finally:
        stack.down()


def check_metrics_off(off: str, on: str) -> None:
    """The "before" side counted no request and the "after" side did: it compares what it says."""
    series = "http_requests_total{"
    if series in httpx.get(f"{off}/metrics").text or series not in httpx.get(f"{on}/metrics").text:
        raise SystemExit(
            "the no-metrics side counts requests, or the other does not: see METRICS_OFF"
        )


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
