"""Storage benchmark: memory of a large streamed upload, download speed via nginx X-Accel-Redirect.

Usage (from the repository root, after scripts/setup.sh):
    .venv/bin/python bench/storage_bench.py [--upload-mib 1024] [--download-mib 256] [--runs 5]

What it does, all on loopback with the rendered template's own code and pins:
1. renders the template and starts its storage service (uvicorn, STORAGE_ACCEL_REDIRECT=true) in
   the generated runner's virtualenv;
2. uploads --upload-mib MiB straight to storage (raw streamed body) and reports the service's
   peak resident memory (VmHWM) and the upload speed;
3. starts an nginx of its own over HTTPS with the edge's download path (proxy to storage, which
   answers X-Accel-Redirect to an `internal` alias of the volume) and a plain static location
   serving the very same file (a hard link), then downloads both with curl, alternating, and
   reports the median speeds and their ratio.
Targets (issue 4): peak memory under 100 MB; X-Accel download >= 80 % of the static one.
It measures and prints; it asserts nothing. The whole-stack figures (backend too, through the
edge) come from booting the generated stack (scripts/local/stack.py) and are not measured here.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from helpers import free_port, render, world_readable_tmpdir  # noqa: E402

MIB = 1024 * 1024
TOKEN = secrets.token_hex(32)

NGINX_CONF = """\
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 256; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    access_log off;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {prefix}/cert.pem;
        ssl_certificate_key {prefix}/key.pem;
        ssl_protocols TLSv1.2 TLSv1.3;
        location /static/ {{ alias {static}/; }}
        location /storage/files/ {{ proxy_pass http://127.0.0.1:{storage_port}; }}
        location /_storage_internal/ {{ internal; alias {volume}/; }}
    }}
}}
"""


def services_python(project: Path) -> Path:
    storage = next(project.glob("*/storage/app/main.py")).parents[1]
    spec = importlib.util.spec_from_file_location("stack", project / "scripts/local/stack.py")
    assert spec and spec.loader
    runner = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(runner)
    return runner.ensure_venv(storage.parent.name) / "bin" / "python"


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for process {pid}")


def wait_for(url: str, process: subprocess.Popen, **kwargs: object) -> None:
    for _ in range(200):
        if process.poll() is not None:
            raise RuntimeError(f"{url}: the process exited with {process.returncode}")
        try:
            httpx.get(url, timeout=1, **kwargs)
            return
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer")


def start_storage(project: Path, volume: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {
        **os.environ,
        "ENVIRONMENT": "production",
        "STORAGE_TOKEN": TOKEN,
        "STORAGE_DIR": str(volume),
        "STORAGE_ACCEL_REDIRECT": "true",
        "MAX_UPLOAD_MB": "4096",
    }
    cwd = next(project.glob("*/storage/app/main.py")).parents[1]
    process = subprocess.Popen(
        [
            str(services_python(project)),
            "-m",
            "uvicorn",
            "app.main:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        cwd=cwd,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    wait_for(f"{url}/storage/health", process)
    return process, url


def upload(url: str, size_mib: int) -> tuple[dict, float]:
    def body() -> Iterator[bytes]:
        block = os.urandom(MIB)
        for _ in range(size_mib):
            yield block

    started = time.perf_counter()
    response = httpx.post(
        f"{url}/storage/upload",
        params={"filename": "bench.bin"},
        content=body(),
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=600,
    )
    response.raise_for_status()
    return response.json(), time.perf_counter() - started


def start_nginx(prefix: Path, static: Path, volume: Path, storage_port: int) -> tuple[str, Path]:
    port = free_port()
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-keyout",
            str(prefix / "key.pem"),
            "-out",
            str(prefix / "cert.pem"),
        ],
        check=True,
        capture_output=True,
    )
    conf = prefix / "nginx.conf"
    conf.write_text(
        NGINX_CONF.format(
            prefix=prefix, port=port, static=static, volume=volume, storage_port=storage_port
        )
    )
    subprocess.run(
        ["nginx", "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")], check=True
    )
    return f"https://127.0.0.1:{port}", prefix / "nginx.pid"


def curl_speed(url: str) -> float:
    """Bytes per second of one download with curl (a C client, so the client is not the limit)."""
    result = subprocess.run(
        [
            "curl",
            "-ksS",
            "--fail",
            "-o",
            "/dev/null",
            "-w",
            "%{speed_download} %{size_download}",
            url,
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    speed, _size = result.stdout.split()
    return float(speed)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--upload-mib", type=int, default=1024)
    parser.add_argument("--download-mib", type=int, default=256)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    base = world_readable_tmpdir("storage-bench-")
    storage = nginx_pid = None
    try:
        project = render(base / "project")
        volume, static, prefix = base / "volume", base / "static", base / "nginx"
        static.mkdir(mode=0o755)
        prefix.mkdir()
        storage, storage_url = start_storage(project, volume)
        baseline = peak_rss_mib(storage.pid)

        stored, seconds = upload(storage_url, args.upload_mib)
        peak = peak_rss_mib(storage.pid)
        print(
            f"upload {args.upload_mib} MiB straight to storage: {seconds:.1f} s "
            f"({args.upload_mib / seconds:.0f} MiB/s), storage peak RSS {peak:.1f} MiB "
            f"(at start {baseline:.1f} MiB; target < 100 MB)"
        )
        httpx.delete(
            f"{storage_url}/storage/files/{stored['name']}",
            headers={"Authorization": f"Bearer {TOKEN}"},
        ).raise_for_status()

        name = upload(storage_url, args.download_mib)[0]["name"]
        os.link(volume / name[0:2] / name[2:4] / name, static / name)
        edge, nginx_pid = start_nginx(prefix, static, volume, int(storage_url.rsplit(":", 1)[1]))
        urls = {"x-accel": f"{edge}/storage/files/{name}", "static": f"{edge}/static/{name}"}
        speeds: dict[str, list[float]] = {kind: [] for kind in urls}
        for url in urls.values():
            curl_speed(url)  # warm-up: page cache, TLS session
        for _ in range(args.runs):
            for kind, url in urls.items():
                speeds[kind].append(curl_speed(url))
        medians = {kind: statistics.median(values) / MIB for kind, values in speeds.items()}
        print(f"download {args.download_mib} MiB over HTTPS, median of {args.runs} (curl):")
        for kind, value in medians.items():
            runs = ", ".join(f"{v / MIB:.0f}" for v in speeds[kind])
            print(f"  {kind:8} {value:7.0f} MiB/s   runs: {runs}")
        ratio = medians["x-accel"] / medians["static"]
        print(
            f"  X-Accel / static = {ratio:.0%} (target >= 80 %); "
            f"storage peak RSS now {peak_rss_mib(storage.pid):.1f} MiB"
        )
        return 0
    finally:
        if nginx_pid is not None and nginx_pid.is_file():
            subprocess.run(["kill", "-QUIT", nginx_pid.read_text().strip()], check=False)
        if storage is not None:
            storage.terminate()
            storage.wait(timeout=10)
        time.sleep(0.3)
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
