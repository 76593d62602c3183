"""Requests/s of 1 backend worker against 2 (or more), and their memory at idle.

Next to the booted stack, two extra backends start on ports of their own, each with the stack's
environment (its database, its storage) and the start command of the image and the runner
(`python -m app.core.workers`), one with BACKEND_WORKERS=1 and one with more. Both stay up; wrk
alternates between them (alternate.py), so each runs while the other is idle.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from alternate import alternate
from api_load import bearer_script, wrk_measure
from http_load import Load, run_wrk
from memory import tree_memory_mb, tree_rss_mb, worker_rss_mb
from stack.config import Project
from stack.environments import python_service_env
from stack.services import backend_command
from stack.state import State
from support.project import free_port, services_venv

START_TIMEOUT_S = 60


def wait_healthy(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"backend exited ({process.returncode}):\n{log.read_text()[-2000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"backend not healthy after {START_TIMEOUT_S} s:\n{log.read_text()[-2000:]}")


def stop(process: subprocess.Popen) -> None:
    """SIGTERM to uvicorn, which stops its workers; SIGKILL to the group if it hangs."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


# uvicorn's own --workers, as round 2 ran it: every worker a new interpreter (multiprocessing's
# spawn) that imports the app itself. app.core.workers imports it once and forks the workers.
UVICORN_SPAWN = [
    "-c",
    "import sys; from uvicorn.main import main; main(sys.argv[1:])",
    "app.main:app",
]


@contextlib.contextmanager
def extra_backend(
    project: Path, state_dir: Path, workers: int, spawn: bool = False
) -> Iterator[tuple[str, int]]:
    """A backend with `workers` workers beside the stack's, started as the image starts it (or,
    with `spawn`, by uvicorn's own --workers); yields its URL and PID."""
    env = {
        **python_service_env(Project(project), State(state_dir)),
        "BACKEND_WORKERS": str(workers),
        **({"WEB_CONCURRENCY": str(workers)} if spawn else {}),
    }
    python = services_venv(project) / "bin" / "python"
    port = free_port()
    log = state_dir / "logs" / f"bench-backend-{workers}-workers{'-spawn' if spawn else ''}.log"
    if spawn:
        command = [str(python), *UVICORN_SPAWN, "--host", "127.0.0.1", "--port", str(port)]
        command.append("--no-access-log")
    else:
        command = backend_command(str(python), port)
    with open(log, "ab") as out:
        process = subprocess.Popen(
            command,
            cwd=next(project.glob("*/backend")),
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url + "/api/health", process, log)
        yield url, process.pid
    finally:
        stop(process)


def measure_workers(
    project: Path,
    state_dir: Path,
    token: str,
    load: Load,
    workdir: Path,
    warmup_seconds: int,
    pairs: int,
    postgres_pid: int,
    many: int = 2,
) -> dict:
    """`pairs` wrk runs on /api/users/me of a 1-worker backend alternating with a `many`-worker
    one, after a warm-up of each; the idle RSS of each process of both, before any request. Then
    `pairs` more of the `many`-worker one (forked after import) alternating with the same count
    started by uvicorn's --workers (spawned)."""
    script = bearer_script(workdir, token)
    path = "/api/users/me"
    with (
        extra_backend(project, state_dir, 1) as (one_url, one_pid),
        extra_backend(project, state_dir, many) as (many_url, many_pid),
    ):
        time.sleep(1)  # let the workers of the second one finish starting
        idle = {"1 worker": tree_rss_mb(one_pid), f"{many} workers": tree_rss_mb(many_pid)}
        per_worker = worker_rss_mb(one_pid) + worker_rss_mb(many_pid)
        idle_memory = {
            "1 worker": tree_memory_mb(one_pid),
            f"{many} workers, forked after import": tree_memory_mb(many_pid),
        }
        if warmup_seconds:
            for url in (one_url, many_url):
                run_wrk(url + path, script, Load(load.connections, load.threads, warmup_seconds))
        compared = alternate(
            wrk_measure(
                one_url + path, script, load, {"backend": one_pid, "postgres": postgres_pid}
            ),
            wrk_measure(
                many_url + path, script, load, {"backend": many_pid, "postgres": postgres_pid}
            ),
            pairs,
        )
        # The same worker count started by uvicorn's own --workers (spawned interpreters): its
        # memory at idle, then its requests/s alternating with the forked one's, so that sharing
        # the imports is seen not to cost throughput (or seen to).
        with extra_backend(project, state_dir, many, spawn=True) as (spawn_url, spawn_pid):
            time.sleep(1)
            idle_memory[f"{many} workers, uvicorn spawn"] = tree_memory_mb(spawn_pid)
            if warmup_seconds:
                run_wrk(
                    spawn_url + path, script, Load(load.connections, load.threads, warmup_seconds)
                )
            forked_against_spawned = alternate(
                wrk_measure(
                    spawn_url + path, script, load, {"backend": spawn_pid, "postgres": postgres_pid}
                ),
                wrk_measure(
                    many_url + path, script, load, {"backend": many_pid, "postgres": postgres_pid}
                ),
                pairs,
            )
    return {
        "workers": many,
        "idle_memory_mb": idle_memory,
        "one": compared["a"],
        "many": compared["b"],
        "many_over_one": compared["ratio_b_over_a"],
        "spawned": forked_against_spawned["a"],
        "forked_over_spawned": forked_against_spawned["ratio_b_over_a"],
        "idle_rss_mb": idle,
        "idle_rss_per_worker_max_mb": max(per_worker),
    }
