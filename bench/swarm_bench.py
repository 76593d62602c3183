"""Measure the swarm stack: /api/users/me through the edge with 1 and 2 backend replicas, uploads
and downloads through the S3 backend against the local one, and a rolling update's failed requests.

Usage: .venv/bin/python bench/swarm_bench.py [--out FILE.json] [--hold FILE]

It starts the swarm layer's two-node cluster (tests/support/swarm: two dockerds in network
namespaces of their own, SeaweedFS on the bridge between them), deploys two stacks rendered from
the working tree with deploy_mode=swarm by their own remote.sh: one with storage_backend=s3,
one with the local volume (ports 8080/8443 and 9080/9443 of node 1's namespace). All traffic goes
to node 1's address, in a namespace this script made; every loop is bounded. Root only, like the
swarm layer (`pytest -m swarm`). --hold FILE keeps it all up while FILE exists (to poke at it).

Measures (wrk is not used: the edge is in a namespace, and httpx with one TLS connection per
worker is enough to compare counts of replicas):
- users_me: GET /api/users/me, 8 workers on keep-alive connections for 10 s, at 1 and at 2
  backend replicas (swarm_scale's action, stack-scale:backend=N): requests/s and latency.
- transfer: one 64 MiB upload and its download through the edge, S3 stack against local stack.
- rolling_update: stack-deploy of a changed backend image under 8 req/s of reads and uploads.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from support.project import render
from support.seaweedfs import client, seaweedfs
from support.swarm.cluster import HOST_ADDRESS, STACK_SUBNET, swarm_cluster
from support.swarm.load import Background, edge_client
from support.swarm.stack import Deployment, prepare

DOMAIN = "bench.example.net"
PASSWORD = "a long and unusual passphrase"  # noqa: S105 - a throwaway account
MIB = 1024 * 1024


def deploy(
    tmp: Path, cluster, slug: str, ports: tuple[int, int], subnet: str = STACK_SUBNET, **answers
) -> Deployment:
    project = render(
        tmp / slug,
        project_name=slug,
        project_slug=slug,
        domain=DOMAIN,
        deploy_mode="swarm",
        swarm_replicas=2,
        max_upload_mb=200,
        registration="open",  # the bench signs its own account up
        **answers,
    )
    settings = project / "settings.env"
    # All the load comes from one address: the login rate limit would answer 429.
    settings.write_text(
        settings.read_text().replace("AUTH_RATE_PER_MINUTE=10", "AUTH_RATE_PER_MINUTE=100000")
    )
    deployment = prepare(cluster, project, slug, ports, subnet)
    deployment.build_and_share_images()
    deployment.remote("stack-deploy")
    return deployment


def sign_in(deployment: Deployment) -> str:
    with edge_client(deployment.edge, deployment.ports[1], DOMAIN) as http:
        body = {"email": "bench@example.org", "password": PASSWORD}
        http.post("/api/auth/register", json=body)
        answer = http.post(
            "/api/auth/login", data={"username": body["email"], "password": PASSWORD}
        )
        answer.raise_for_status()
        return answer.json()["access_token"]


def users_me(deployment: Deployment, token: str, seconds: float = 10, workers: int = 8) -> dict:
    latencies: list[float] = []
    failures = [0]
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def worker() -> None:
        with edge_client(deployment.edge, deployment.ports[1], DOMAIN) as http:
            headers = {"Authorization": f"Bearer {token}"}
            while time.monotonic() < deadline:
                began = time.monotonic()
                ok = http.get("/api/users/me", headers=headers).status_code == 200
                with lock:
                    latencies.append(time.monotonic() - began)
                    failures[0] += not ok

    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    latencies.sort()
    return {
        "requests_per_s": round(len(latencies) / seconds, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 1),
        "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 1),
        "failed": failures[0],
        "workers": workers,
        "seconds": seconds,
    }


def transfer(deployment: Deployment, token: str, size: int = 64 * MIB) -> dict:
    content = os.urandom(size)
    with edge_client(deployment.edge, deployment.ports[1], DOMAIN, timeout=300) as http:
        began = time.monotonic()
        answer = http.post(
            "/api/upload",
            headers={"Authorization": f"Bearer {token}"},
            files={"file": ("big.bin", content, "application/octet-stream")},
        )
        upload_s = time.monotonic() - began
        answer.raise_for_status()
        began = time.monotonic()
        download = http.get(answer.json()["url"])
        download_s = time.monotonic() - began
    assert download.content == content
    return {
        "size_mib": size // MIB,
        "upload_mib_per_s": round(size / MIB / upload_s, 1),
        "download_mib_per_s": round(size / MIB / download_s, 1),
    }


def rolling_update(deployment: Deployment, token: str) -> dict:
    main = deployment.project / deployment.slug / "backend" / "app" / "main.py"
    main.write_text(main.read_text() + f"\n# bench {time.time()}\n")
    deployment.build_and_share_images()
    with Background(
        lambda: edge_client(deployment.edge, deployment.ports[1], DOMAIN),
        token,
        seconds=240,
        rate=8,
        kinds=("read", "upload"),
    ) as load:
        time.sleep(3)
        began = time.monotonic()
        deployment.remote("stack-deploy")
        took = time.monotonic() - began
        time.sleep(3)
        load.stop.set()
    result = load.wait()
    return {
        "update_s": round(took, 1),
        "requests": result.sent,
        "failed": result.failed,
        "slowest_s": round(max(result.latencies), 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path)
    parser.add_argument("--hold", type=Path, help="keep everything up while this file exists")
    args = parser.parse_args()
    results: dict[str, object] = {}
    tmp = Path(tempfile.mkdtemp(prefix="closo-swarm-bench-"))
    tmp.chmod(0o755)
    with swarm_cluster(tmp / "swarm") as cluster, seaweedfs(tmp / "s3", ip=HOST_ADDRESS) as store:
        client(store).create_bucket(Bucket="bench-files")
        s3 = deploy(
            tmp, cluster, "benchs3", (8080, 8443),
            storage_backend="s3", s3_endpoint=store.endpoint, s3_region=store.region,
            s3_bucket="bench-files", s3_access_key_id=store.access_key_id,
            s3_secret_access_key=store.secret_access_key,
        )  # fmt: skip
        token = sign_in(s3)
        if args.hold:
            print(f"up: https://{s3.edge}:8443/ (Host {DOMAIN}); project {s3.project}")
            print(f"DOCKER_HOST={cluster.manager.engine.host}; token {token}")
            args.hold.touch()
            while args.hold.exists():
                time.sleep(1)
            return 0
        for count in (1, 2):
            s3.remote(f"stack-scale:backend={count}")
            users_me(s3, token, seconds=2)  # warm-up
            results[f"users_me_{count}_backend"] = users_me(s3, token)
            print(count, "backend:", results[f"users_me_{count}_backend"], flush=True)
        results["transfer_s3"] = transfer(s3, token)
        print("s3:", results["transfer_s3"], flush=True)
        results["rolling_update"] = rolling_update(s3, token)
        print("rolling update:", results["rolling_update"], flush=True)
        cluster.manager.docker("stack", "rm", s3.slug)
        local = deploy(tmp, cluster, "benchlocal", (9080, 9443), subnet="10.246.1.0/24")
        results["transfer_local"] = transfer(local, sign_in(local))
        print("local:", results["transfer_local"], flush=True)
    results["machine"] = {"cpus": os.cpu_count()}
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
