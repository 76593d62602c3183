"""Backend benchmark: authenticated GET /api/users/me under wrk, and memory under a login burst.

Usage (from the repository root, after scripts/setup.sh; needs wrk and PostgreSQL 15):
    .venv/bin/python bench/backend_bench.py [--duration 10] [--runs 3] [--connections 16]
    .venv/bin/python bench/backend_bench.py --edge       # also through a booted stack's nginx

What it does, on loopback with the rendered template's own code and pins:
1. renders the template, starts a PostgreSQL 15 cluster of its own and the backend exactly as the
   native runner does (`python -m app.prestart`, then one uvicorn worker with --proxy-headers),
   ENVIRONMENT=production with strong secrets;
2. registers a user, logs in, and runs `wrk -t2 -c16 --latency` with a Lua script that sends the
   Bearer token to GET /api/users/me, --runs times; prints each run and the median req/s and p99;
3. sends 16 logins at once (argon2id hashing) and prints the backend's peak resident memory
   (VmHWM) and the burst's duration;
4. with --edge, boots the whole generated stack with its native runner and runs the wrk step
   against its edge (HTTPS through nginx to the stack's own backend), with a user registered
   through the edge (--edge-url URL: use a stack that is already running instead); then uploads
   a file just under MAX_UPLOAD_MB through the edge and prints the backend's memory around it.
Targets (issue 3): >= 900 req/s with p99 < 50 ms on 2 cores; the login burst under 300 MB.
It measures and prints; it asserts nothing.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from helpers import (  # noqa: E402
    PG_BIN,
    boot_stack,
    free_port,
    render,
    start_pg_cluster,
    world_readable_tmpdir,
)

PASSWORD = "benchmark password"  # noqa: S105 - a throwaway account of the bench


def services_venv(project: Path, slug: str) -> Path:
    spec = importlib.util.spec_from_file_location(
        "generated_stack", project / "scripts" / "local" / "stack.py"
    )
    assert spec and spec.loader
    runner = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(runner)
    return runner.ensure_venv(slug)


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def current_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def wait_healthy(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the backend exited:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"the backend did not answer {url} within 30 s:\n{log.read_text()[-3000:]}")


def user_token(base_url: str) -> str:
    email = f"bench-{secrets.token_hex(6)}@example.com"
    with httpx.Client(base_url=base_url, verify=False, timeout=30) as client:  # noqa: S501
        client.post("/api/auth/register", json={"email": email, "password": PASSWORD})
        response = client.post("/api/auth/login", data={"username": email, "password": PASSWORD})
        response.raise_for_status()
        return response.json()["access_token"]


def parse_latency_ms(text: str) -> float:
    match = re.match(r"([\d.]+)(us|ms|s|m)$", text)
    if match is None:
        raise ValueError(f"unexpected wrk latency {text!r}")
    value, unit = match.groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def run_wrk(url: str, token: str, *, duration: int, connections: int, workdir: Path) -> dict:
    script = workdir / "auth.lua"
    script.write_text(f'wrk.headers["Authorization"] = "Bearer {token}"\n')
    command = [
        "wrk",
        "-t2",
        f"-c{connections}",
        f"-d{duration}s",
        "--latency",
        "-s",
        str(script),
        url,
    ]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    if "Latency Distribution" not in output:
        raise SystemExit(f"wrk gave no latency distribution:\n{output}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    p50 = parse_latency_ms(re.search(r"^\s+50%\s+(\S+)", output, re.MULTILINE).group(1))
    p99 = parse_latency_ms(re.search(r"^\s+99%\s+(\S+)", output, re.MULTILINE).group(1))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return {
        "rps": rps,
        "p50": p50,
        "p99": p99,
        "errors": int(non_2xx.group(1)) if non_2xx else 0,
        "command": " ".join(command),
    }


def wrk_series(label: str, url: str, token: str, args: argparse.Namespace, workdir: Path) -> None:
    run_wrk(url, token, duration=2, connections=args.connections, workdir=workdir)  # warm-up
    results = []
    for index in range(args.runs):
        result = run_wrk(
            url, token, duration=args.duration, connections=args.connections, workdir=workdir
        )
        results.append(result)
        print(
            f"  {label} run {index + 1}: {result['rps']:.0f} req/s, p50 {result['p50']:.1f} ms, "
            f"p99 {result['p99']:.1f} ms, non-2xx {result['errors']}"
        )
    print(f"  command: {results[0]['command']}")
    print(
        f"{label}: median {statistics.median(r['rps'] for r in results):.0f} req/s, "
        f"median p99 {statistics.median(r['p99'] for r in results):.1f} ms "
        "(target >= 900 req/s, p99 < 50 ms)"
    )


def login_burst(base_url: str, pid: int, count: int) -> None:
    emails = []
    with httpx.Client(base_url=base_url, timeout=60) as client:
        for _ in range(count):
            email = f"burst-{secrets.token_hex(6)}@example.com"
            client.post("/api/auth/register", json={"email": email, "password": PASSWORD})
            emails.append(email)
    before = current_rss_mb(pid)
    statuses: list[int] = []
    barrier = threading.Barrier(count)

    def one(email: str) -> None:
        with httpx.Client(base_url=base_url, timeout=60) as client:
            barrier.wait()
            statuses.append(
                client.post(
                    "/api/auth/login", data={"username": email, "password": PASSWORD}
                ).status_code
            )

    threads = [threading.Thread(target=one, args=(email,)) for email in emails]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    print(
        f"login burst: {count} concurrent logins in {elapsed:.2f} s, statuses "
        f"{sorted(set(statuses))}; backend RSS {before:.0f} MB before, peak (VmHWM) "
        f"{peak_rss_mb(pid):.0f} MB (target < 300 MB)"
    )


def streamed_upload(edge: str, token: str, backend_pid: int, megabytes: int) -> None:
    """Upload through the edge and report how much the backend's memory grew meanwhile."""
    chunk = os.urandom(1024 * 1024)
    boundary = secrets.token_hex(8)

    def body():
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.bin"'
            "\r\nContent-Type: application/octet-stream\r\n\r\n"
        ).encode()
        for _ in range(megabytes):
            yield chunk
        yield f"\r\n--{boundary}--\r\n".encode()

    before = current_rss_mb(backend_pid)
    started = time.perf_counter()
    with httpx.Client(verify=False, timeout=300) as client:  # noqa: S501 - self-signed edge
        response = client.post(
            f"{edge}/api/upload",
            content=body(),
            headers={
                "Authorization": f"Bearer {token}",
                "Content-Type": f"multipart/form-data; boundary={boundary}",
            },
        )
    elapsed = time.perf_counter() - started
    print(
        f"upload of {megabytes} MiB through the edge: {response.status_code} in {elapsed:.1f} s; "
        f"backend RSS {before:.0f} MB before, {current_rss_mb(backend_pid):.0f} MB after, "
        f"peak (VmHWM) {peak_rss_mb(backend_pid):.0f} MB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--logins", type=int, default=16, help="size of the login burst")
    parser.add_argument(
        "--edge", action="store_true", help="also boot the stack, measure via nginx"
    )
    parser.add_argument("--edge-url", help="also measure through this running stack's edge (https)")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk not found: apt-get install -y wrk")

    base = world_readable_tmpdir("closo-backend-bench-")
    workdir = Path(tempfile.mkdtemp(prefix="wrk-", dir=base))
    cluster = start_pg_cluster(base / "pg")
    backend_process = stack = None
    try:
        project = render(base / "project")
        backend = next(project.glob("*/backend/app/main.py")).parents[1]
        python = services_venv(project, backend.parent.name) / "bin" / "python"
        env = {
            **os.environ,
            **cluster.env(),
            "POSTGRES_DB": "postgres",
            "ENVIRONMENT": "production",
            "SECRET_KEY": secrets.token_hex(32),
            "STORAGE_TOKEN": secrets.token_hex(32),
            "FIRST_ADMIN_EMAIL": "admin@example.com",
            "FIRST_ADMIN_PASSWORD": secrets.token_hex(16),
            # Production refuses a short database password: give the throwaway cluster a long one.
            "POSTGRES_PASSWORD": secrets.token_hex(16),
            "STORAGE_URL": f"http://127.0.0.1:{free_port()}",  # /users/me never calls storage
        }
        subprocess.run(
            [
                str(PG_BIN / "psql"),
                "-h",
                cluster.host,
                "-p",
                str(cluster.port),
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-c",
                f"ALTER USER postgres PASSWORD '{env['POSTGRES_PASSWORD']}'",
            ],
            check=True,
            capture_output=True,
            env={**os.environ, "PGPASSWORD": cluster.password},
        )
        subprocess.run(
            [str(python), "-m", "app.prestart"],
            cwd=backend,
            env=env,
            check=True,
            capture_output=True,
        )
        port = free_port()
        log = base / "backend.log"
        with open(log, "wb") as out:
            backend_process = subprocess.Popen(
                [
                    str(python),
                    "-m",
                    "uvicorn",
                    "app.main:app",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--proxy-headers",
                    "--forwarded-allow-ips",
                    "127.0.0.1",
                ],
                cwd=backend,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        url = f"http://127.0.0.1:{port}"
        wait_healthy(f"{url}/api/health", backend_process, log)
        print(
            f"backend on {url}: 1 uvicorn worker, {os.cpu_count()} cores, "
            f"RSS {current_rss_mb(backend_process.pid):.0f} MB at start"
        )

        wrk_series("direct", f"{url}/api/users/me", user_token(url), args, workdir)
        login_burst(url, backend_process.pid, args.logins)
        if args.edge and not args.edge_url:
            backend_process.terminate()  # the stack runs a backend of its own
            backend_process.wait(timeout=10)
            backend_process = None
            stack = boot_stack(base / "stack")
        if args.edge_url or stack:
            edge = (args.edge_url or stack.url).rstrip("/")
            token = user_token(edge)
            wrk_series("through the edge", f"{edge}/api/users/me", token, args, workdir)
            if stack is not None:
                pid = stack.status["services"]["backend"]["pid"]
                size = min(int(stack.env.get("MAX_UPLOAD_MB", "50")) - 1, 200)
                streamed_upload(edge, token, pid, size)
    finally:
        if backend_process is not None:
            backend_process.terminate()
            backend_process.wait(timeout=10)
        if stack is not None:
            stack.down()
        cluster.stop()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
