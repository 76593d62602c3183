"""The shared edge's relay alone, in Docker: what passing TLS through costs a download.

Usage (from the repository root, as root, after scripts/setup.sh; about 2 minutes):
    .venv/bin/python bench/relay.py [--sizes 16k,64k,256k] [--rounds 6] [--haproxy]
    .venv/bin/python bench/relay.py --memory --sizes 16k,64k   # 100 slow downloads at once

Two containers of the edge's image (nginx:1.28-alpine, or its look-alike) on a bridge network of
their own: a "site" nginx that terminates TLS (HTTP/2, as a site's edge does), takes a PROXY
protocol header and serves a 256 MiB file, and a "relay" nginx with the shared edge's stream
configuration (ssl_preread, proxy_protocol on; remote/shared-edge.conf), one port per
`proxy_buffer_size` tried. curl downloads the file from the site directly (its own PROXY header,
--haproxy-protocol) and through each relay port, round after round, the order turned each round.
Prints each way's MiB/s, its ratio to direct in the same round, and the CPU seconds per GiB of the
relay and of the site (their cgroups; the kernel's work for their sockets included).
`--haproxy`: also Debian's HAProxy (installed on the host) in the relay's network namespace,
with and without `option splice-auto` (zero-copy relaying), for comparison.
`--memory`: the relay's memory with 100 downloads at 2 MB/s going through it, per buffer size.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import time
from functools import partial
from pathlib import Path

from cpu import tree_cpu_seconds
from production import address_of_on, container_memory_mib, cpu_seconds
from support.docker.engine import Engine, exclusive, start_engine
from support.docker.images import ensure_base_images
from support.project import world_readable_tmpdir

IMAGE = "nginx:1.28-alpine"  # the edge's (template nginx/Dockerfile)
NAME = "site.test"
NETWORK = "bench_relay"
FILE_MIB = 256

SITE = """
worker_processes auto;
events { worker_connections 1024; }
http {
    sendfile on;
    access_log off;
    server {
        listen 443 ssl proxy_protocol;
        http2 on;
        server_name site.test;
        ssl_certificate /etc/bench/cert.pem;
        ssl_certificate_key /etc/bench/key.pem;
        ssl_protocols TLSv1.2 TLSv1.3;
        root /data;
    }
}
"""

RELAY = """
include /etc/nginx/modules-enabled/*.conf;
worker_processes auto;
events {{ worker_connections 4096; }}
stream {{
    resolver 127.0.0.11 valid=2s ipv6=off;
    map $ssl_preread_server_name $site {{ default "site:443"; }}
    access_log off;
{servers}}}
"""

RELAY_SERVER = """
    server {{
        listen {port} reuseport;
        ssl_preread on;
        proxy_pass $site;
        proxy_protocol on;
        proxy_buffer_size {size};
    }}
"""

HAPROXY = """
global
    maxconn 4096
defaults
    mode tcp
    timeout connect 5s
    timeout client 10m
    timeout server 10m
frontend splice
    bind :4500
    option splice-auto
    tcp-request inspect-delay 5s
    tcp-request content accept if {{ req_ssl_hello_type 1 }}
    default_backend site_splice
frontend copy
    bind :4501
    tcp-request inspect-delay 5s
    tcp-request content accept if {{ req_ssl_hello_type 1 }}
    default_backend site_copy
backend site_splice
    option splice-auto
    server site {site}:443 send-proxy
backend site_copy
    server site {site}:443 send-proxy
"""


def first_port(index: int) -> int:
    return 4430 + index


def prepare(folder: Path, sizes: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "site.conf").write_text(SITE)
    servers = "".join(
        RELAY_SERVER.format(port=first_port(i), size=size) for i, size in enumerate(sizes)
    )
    (folder / "relay.conf").write_text(RELAY.format(servers=servers))
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-keyout", folder / "key.pem", "-out", folder / "cert.pem", "-days", "1",
         "-subj", f"/CN={NAME}", "-addext", f"subjectAltName=DNS:{NAME}"],
        check=True, capture_output=True,
    )  # fmt: skip
    (folder / "key.pem").chmod(0o644)  # the container's nginx user reads it; a throwaway key
    (folder / "data").mkdir()
    with (folder / "data" / "big").open("wb") as out:
        subprocess.run(["head", "-c", str(FILE_MIB << 20), "/dev/urandom"], stdout=out, check=True)


def start(engine: Engine, folder: Path) -> dict[str, str]:
    """The two containers; their addresses."""
    engine.docker("network", "create", NETWORK)
    mounts = ["-v", f"{folder}:/etc/bench:ro", "-v", f"{folder / 'data'}:/data:ro"]
    for name in ("site", "relay"):
        engine.docker(
            "run", "--detach", "--name", name, "--network", NETWORK, *mounts,
            "--entrypoint", "nginx", IMAGE, "-c", f"/etc/bench/{name}.conf", "-g", "daemon off;",
        )  # fmt: skip
    time.sleep(2)
    return {name: address(engine, name) for name in ("site", "relay")}


def address(engine: Engine, name: str) -> str:
    found = address_of_on(engine, name, NETWORK)
    if not found:
        logs = engine.docker("logs", name, check=False)
        raise SystemExit(f"the {name} container did not start:\n{logs.stdout}{logs.stderr}")
    return found


def download(address: str, port: int, proxy_header: bool, limit: str | None = None) -> float:
    """One download of the file with curl: MiB/s."""
    result = subprocess.run(
        ["curl", "-sS", "--fail", "--insecure", "-o", "/dev/null", "-w", "%{speed_download}",
         "--resolve", f"{NAME}:{port}:{address}",
         *(["--haproxy-protocol"] if proxy_header else []),
         *(["--limit-rate", limit] if limit else []),
         f"https://{NAME}:{port}/big"],
        capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    return float(result.stdout) / (1 << 20)


def compare(ways: dict, rounds: int, cpu: dict) -> dict:
    for way in ways.values():  # warm-up: the file in the page cache, every path once
        way()
    names = list(ways)
    speeds: dict[str, list[float]] = {name: [] for name in names}
    spent = {name: dict.fromkeys(cpu, 0.0) for name in names}
    for index in range(rounds):
        for name in names[index % len(names) :] + names[: index % len(names)]:
            before = {who: read() for who, read in cpu.items()}
            speeds[name].append(ways[name]())
            for who, read in cpu.items():
                spent[name][who] += read() - before[who]
    gib = rounds * FILE_MIB / 1024
    return {
        name: {
            "MiB/s, median": round(statistics.median(speeds[name]), 1),
            "over direct in the same round, median (low, high)": [
                round(statistics.median(ratios), 3), round(min(ratios), 3), round(max(ratios), 3)
            ],
            "CPU s per GiB": {who: round(seconds / gib, 2) for who, seconds in spent[name].items()},
        }
        for name in names
        for ratios in [[s / d for s, d in zip(speeds[name], speeds["direct"], strict=True)]]
    }  # fmt: skip


def memory_under_downloads(engine: Engine, sizes: list[str]) -> dict:
    """The relay's memory (docker stats) idle, and with 100 downloads at 2 MB/s through it."""
    found = {}
    for index, size in enumerate(sizes):
        engine.docker("restart", "relay")
        time.sleep(2)
        relay = address(engine, "relay")
        idle = container_memory_mib(engine, "relay")
        port = first_port(index)
        command = ["curl", "-sS", "--insecure", "-o", "/dev/null", "--limit-rate", "2M"]
        command += ["--resolve", f"{NAME}:{port}:{relay}", f"https://{NAME}:{port}/big"]
        clients = [subprocess.Popen(command) for _ in range(100)]
        time.sleep(8)
        busy = container_memory_mib(engine, "relay")
        for client in clients:
            client.kill()
            client.wait()
        found[size] = {"idle (MiB)": idle, "100 downloads (MiB)": busy}
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="16k,64k,256k", help="proxy_buffer_size values")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--haproxy", action="store_true", help="also HAProxy, splice on and off")
    parser.add_argument("--memory", action="store_true", help="memory under 100 downloads only")
    args = parser.parse_args()
    sizes = args.sizes.split(",")
    if args.haproxy and not shutil.which("haproxy"):
        raise SystemExit("--haproxy needs HAProxy on this machine: apt-get install haproxy")
    base = world_readable_tmpdir("closo-bench-relay-")
    prepare(base / "files", sizes)
    with exclusive("docker-engine"):
        engine = start_engine(base / "docker")
        haproxy = None
        try:
            ensure_base_images(engine, [IMAGE])
            at = start(engine, base / "files")
            if args.memory:
                print(json.dumps(memory_under_downloads(engine, sizes), indent=2))
                return
            ways = {"direct": lambda: download(at["site"], 443, proxy_header=True)}
            for index, size in enumerate(sizes):
                ways[f"nginx relay, {size}"] = partial(
                    download, at["relay"], first_port(index), proxy_header=False
                )
            cpu = {
                "site": lambda: cpu_seconds(engine, "site") or 0.0,
                "relay": lambda: cpu_seconds(engine, "relay") or 0.0,
            }
            if args.haproxy:
                config = base / "files" / "haproxy.cfg"
                config.write_text(HAPROXY.format(site=at["site"]))
                pid = engine.docker("inspect", "--format", "{{.State.Pid}}", "relay").stdout
                haproxy = subprocess.Popen(
                    ["nsenter", "-t", pid.strip(), "-n", "haproxy", "-db", "-f", str(config)]
                )
                time.sleep(1)
                ways["haproxy, splice"] = lambda: download(at["relay"], 4500, proxy_header=False)
                ways["haproxy, copy"] = lambda: download(at["relay"], 4501, proxy_header=False)
                cpu["haproxy"] = lambda: tree_cpu_seconds(haproxy.pid)
            print(json.dumps(compare(ways, args.rounds, cpu), indent=2))
        finally:
            if haproxy is not None:
                haproxy.terminate()
                haproxy.wait()
            engine.stop()


if __name__ == "__main__":
    main()
