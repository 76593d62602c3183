"""Backend workers: 1 against 2, gunicorn's preload against the launcher it replaced, and a stop.

Next to the booted stack, extra backends start on ports of their own, each with the stack's
environment (its database, its storage):
- `new`: the image's and the runner's command, `gunicorn -c gunicorn.conf.py app.main:app`
  (uvicorn workers forked by gunicorn after the app's import), with 1 and with 2 workers;
- `old`: what served the API before, recreated here for the comparison only: uvicorn's own
  supervisor made to fork its workers after the import by replacing `uvicorn._subprocess.spawn`
  (a private name: the reason for the change);
- `no preload`: the new command with preload_app off (each worker imports the app after the
  fork), for the memory that preloading saves.
wrk alternates between two of them (alternate.py), so each runs while the other is idle, and the
pair ratios are kept. Last, old and new are stopped in turn with SIGTERM while a sign-in whose
body arrives slowly is in flight: the answer it still gets, and the seconds from signal to exit.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import statistics
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from alternate import alternate, spread
from api_load import bearer_script, wrk_measure
from http_load import Load, run_wrk
from memory import tree_memory_mb, tree_rss_mb, worker_rss_mb
from stack.config import Project
from stack.environments import python_service_env
from stack.services import backend_command
from stack.state import State
from support.ports import free_port
from support.project import services_venv
from support.waiting import wait_for

START_TIMEOUT_S = 60

# The launcher before gunicorn (app/core/workers.py until then), as a `python -c` program.
OLD_UVICORN_FORKED = """
import gc, multiprocessing, os, sys
os.environ["WEB_CONCURRENCY"] = os.environ["BACKEND_WORKERS"]
import uvicorn._subprocess
import app.main
gc.freeze()
uvicorn._subprocess.spawn = multiprocessing.get_context("fork")
from uvicorn.main import main
main(["app.main:app", *sys.argv[1:]])
"""


def wait_healthy(url: str, process: subprocess.Popen, log: Path) -> None:
    def healthy() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"backend exited ({process.returncode}):\n{log.read_text()[-2000:]}")
        with contextlib.suppress(httpx.HTTPError):
            return httpx.get(url, timeout=1).status_code == 200
        return False

    try:
        wait_for(healthy, START_TIMEOUT_S, interval=0.1, what="backend healthy")
    except AssertionError as error:
        raise RuntimeError(f"{error}:\n{log.read_text()[-2000:]}") from None


def stop(process: subprocess.Popen) -> None:
    """SIGTERM to the supervisor, which stops its workers; SIGKILL to the group if it hangs."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def start_command(kind: str, python: Path, backend: Path, port: int, workdir: Path) -> list[str]:
    """`new` is the runner's command (the image's); the others are for comparison only."""
    if kind == "old":
        return [str(python), "-c", OLD_UVICORN_FORKED, "--host", "127.0.0.1",
                "--port", str(port), "--no-access-log"]  # fmt: skip
    command = backend_command(str(python), port)
    if kind == "no preload":
        config = workdir / "gunicorn-no-preload.conf.py"
        config.write_text(f"exec(open({str(backend / 'gunicorn.conf.py')!r}).read())\n"
                          "preload_app = False\n")  # fmt: skip
        command[command.index("gunicorn.conf.py")] = str(config)
    return command


@contextlib.contextmanager
def extra_backend(
    project: Path, state_dir: Path, workers: int, kind: str = "new"
) -> Iterator[tuple[str, subprocess.Popen]]:
    """A backend with `workers` workers beside the stack's, started as `kind` says (new, old,
    no preload); yields its URL and process."""
    env = {
        **python_service_env(Project(project), State(state_dir)),
        "BACKEND_WORKERS": str(workers),
    }
    backend = next(project.glob("*/backend"))
    port = free_port()
    log = state_dir / "logs" / f"bench-backend-{workers}-{kind.replace(' ', '-')}.log"
    python = services_venv(project) / "bin" / "python"
    command = start_command(kind, python, backend, port, state_dir)
    with open(log, "ab") as out:
        process = subprocess.Popen(
            command,
            cwd=backend,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url + "/api/health", process, log)
        yield url, process
    finally:
        stop(process)


def stop_with_request_in_flight(url: str, process: subprocess.Popen) -> dict:
    """SIGTERM while a sign-in (unknown account) is in flight, its body half sent; the rest goes
    1 s later. Returns the status line it got (empty if the connection was cut) and the seconds
    from the signal to the supervisor's exit."""
    body = b"username=nobody%40example.invalid&password=not+the+password"
    head = (
        "POST /api/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    port = int(url.rsplit(":", 1)[1])
    answer = b""
    with socket.create_connection(("127.0.0.1", port), timeout=20) as client:
        client.sendall(head + body[:10])
        time.sleep(0.5)
        signalled = time.monotonic()
        process.send_signal(signal.SIGTERM)
        time.sleep(1)
        with contextlib.suppress(OSError):
            client.sendall(body[10:])
            while chunk := client.recv(65536):
                answer += chunk
    process.wait(timeout=30)
    return {
        "in_flight_answer": answer.partition(b"\r\n")[0].decode(errors="replace"),
        "exit_s": round(time.monotonic() - signalled, 2),
    }


def stop_pairs(project: Path, state_dir: Path, many: int, first: list, pairs: int) -> list:
    """`first` (old, new) stopped with a request in flight, then `pairs - 1` pairs started anew."""
    shutdowns = [tuple(stop_with_request_in_flight(url, process) for url, process in first)]
    for _ in range(pairs - 1):
        pair = []
        for kind in ("old", "new"):
            with extra_backend(project, state_dir, many, kind) as (url, process):
                pair.append(stop_with_request_in_flight(url, process))
        shutdowns.append(tuple(pair))
    return shutdowns


def per_worker(memory: dict[str, dict[str, float]], field: str) -> float:
    return statistics.mean(m[field] for role, m in memory.items() if role.startswith("worker"))


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
    one, after a warm-up of each; the idle memory of every process of each backend, before any
    request. Then `pairs` more of the `many`-worker one alternating with the old launcher's, and
    `pairs` stops of each with a request in flight."""
    script = bearer_script(workdir, token)
    path = "/api/users/me"

    def measured(url: str, pid: int):
        return wrk_measure(url + path, script, load, {"backend": pid, "postgres": postgres_pid})

    with contextlib.ExitStack() as backends:
        one_url, one = backends.enter_context(extra_backend(project, state_dir, 1))
        new_url, new = backends.enter_context(extra_backend(project, state_dir, many))
        old_url, old = backends.enter_context(extra_backend(project, state_dir, many, "old"))
        _, lazy = backends.enter_context(extra_backend(project, state_dir, many, "no preload"))
        time.sleep(1)  # let the workers of the last one finish starting
        idle = {"1 worker": tree_rss_mb(one.pid), f"{many} workers": tree_rss_mb(new.pid)}
        rss_per_worker = worker_rss_mb(one.pid) + worker_rss_mb(new.pid)
        new_memory, old_memory = tree_memory_mb(new.pid), tree_memory_mb(old.pid)
        idle_memory = {
            "1 worker": tree_memory_mb(one.pid),
            f"{many} workers, gunicorn preload": new_memory,
            f"{many} workers, old uvicorn fork": old_memory,
            f"{many} workers, gunicorn no preload": tree_memory_mb(lazy.pid),
        }
        # Sampled in the same second: per worker (their mean) and the whole tree, new over old.
        memory_new_over_old = {
            f"worker {key}": round(per_worker(new_memory, key) / per_worker(old_memory, key), 3)
            for key in ("pss", "uss")
        }
        memory_new_over_old["tree pss"] = round(
            sum(m["pss"] for m in new_memory.values()) / sum(m["pss"] for m in old_memory.values()),
            3,
        )
        if warmup_seconds:
            for url in (one_url, new_url, old_url):
                run_wrk(url + path, script, Load(load.connections, load.threads, warmup_seconds))
        one_against_many = alternate(measured(one_url, one.pid), measured(new_url, new.pid), pairs)
        old_against_new = alternate(measured(old_url, old.pid), measured(new_url, new.pid), pairs)
        shutdowns = stop_pairs(project, state_dir, many, [(old_url, old), (new_url, new)], pairs)
    return {
        "workers": many,
        "idle_memory_mb": idle_memory,
        "memory_new_over_old": memory_new_over_old,
        "one": one_against_many["a"],
        "many": one_against_many["b"],
        "many_over_one": one_against_many["ratio_b_over_a"],
        "old": old_against_new["a"],
        "new": old_against_new["b"],
        "new_over_old": old_against_new["ratio_b_over_a"],
        "shutdown": {"old": [a for a, _ in shutdowns], "new": [b for _, b in shutdowns]},
        "shutdown_exit_new_over_old": spread([b["exit_s"] / a["exit_s"] for a, b in shutdowns]),
        "idle_rss_mb": idle,
        "idle_rss_per_worker_max_mb": max(rss_per_worker),
    }
