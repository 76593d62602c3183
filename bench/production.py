"""The production path measured: images, compose and the deploy scripts on a real Docker engine.

Usage (from the repository root, as root, after scripts/setup.sh; about 6 minutes on 2 cores):
    .venv/bin/python bench/production.py [--out bench/results/NAME.json]

One run, on this machine, of what a user's first and later deploys cost: the default rendering is
deployed with its own deploy scripts over a real sshd to the tests' Docker engine, the certificate
coming from Pebble (tests/support/deploy.py), first with no image or build cache of the project
(cold: pip downloads every package), then again with nothing changed (warm), each step timed.
Then the images' sizes, each container's memory at idle, backup and restore, `compose build`
cold (--no-cache) and warm, and `compose up --wait` from stopped containers and from nothing.
Base images (or their look-alikes) are kept between runs: they are not the project's to build.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH_DIR), str(BENCH_DIR.parent / "tests")]

from helpers import read_env, render, world_readable_tmpdir  # noqa: E402
from machine import describe_machine  # noqa: E402
from support.deploy import server_with_acme  # noqa: E402
from support.docker.engine import Engine, start_engine  # noqa: E402
from support.docker.images import base_images, ensure_base_images  # noqa: E402
from support.docker.site import https_client  # noqa: E402

STEPS = (
    "deploy_bdd",
    "deploy_slave_storage",
    "deploy_backend",
    "deploy_frontend_no_port",
    "deploy_ssl",
)
SERVICES = ("db", "storage", "backend", "frontend", "nginx", "certbot")
DOMAIN = "clo-so.com"


def timed(action) -> float:
    started = time.monotonic()
    action()
    return round(time.monotonic() - started, 1)


def run_script(project: Path, env: dict[str, str], script: str, *args: str, stdin: str = ""):
    result = subprocess.run(
        ["sh", str(project / "scripts/prod" / f"{script}.sh"), *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if result.returncode != 0:
        raise SystemExit(f"{script} failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    return result


def deploy_each_step(project: Path, env: dict[str, str]) -> dict[str, float]:
    times = {step: timed(lambda s=step: run_script(project, env, s)) for step in STEPS}
    times["total"] = round(sum(times.values()), 1)
    return times


def forget_project_images(engine: Engine, slug: str) -> None:
    """No image of the project and no build cache: what a new server has."""
    names = engine.docker("images", "--format", "{{.Repository}}:{{.Tag}}", f"{slug}/*").stdout
    if names.split():
        engine.docker("image", "rm", "--force", *names.split())
    engine.docker("builder", "prune", "--all", "--force")


def image_sizes_mb(engine: Engine, slug: str) -> dict[str, float]:
    sizes = {}
    for service in ("backend", "storage", "frontend", "nginx", "certbot"):
        size = engine.docker(
            "image", "inspect", "--format", "{{.Size}}", f"{slug}/{service}:latest"
        )
        sizes[service] = round(int(size.stdout) / 1e6, 1)
    return sizes


def idle_memory_mib(engine: Engine, slug: str, settle_seconds: int = 20) -> dict[str, float]:
    time.sleep(settle_seconds)
    stats = engine.docker(
        "stats",
        "--no-stream",
        "--format",
        "{{.Name}} {{.MemUsage}}",
        *(f"{slug}_{s}" for s in SERVICES),
    ).stdout
    units = {"KiB": 1 / 1024, "MiB": 1, "GiB": 1024, "B": 1 / 1024 / 1024}
    memory = {}
    for line in stats.splitlines():
        name, usage = line.split(" ", 1)
        value, unit = re.match(r"([\d.]+)(\w+)", usage.split("/")[0].strip()).groups()
        memory[name.removeprefix(f"{slug}_")] = round(float(value) * units[unit], 1)
    memory["whole stack"] = round(sum(memory.values()), 1)
    return memory


def some_data(project: Path, pebble_root: Path) -> None:
    """An account made by the first admin, and five files of 2 MB."""
    import ssl

    settings, secrets = read_env(project / "settings.env"), read_env(project / ".env")

    def token(client, email: str, password: str) -> dict[str, str]:
        answer = client.post("/api/auth/login", data={"username": email, "password": password})
        return {"Authorization": f"Bearer {answer.json()['access_token']}"}

    with https_client(DOMAIN, ssl.create_default_context(cafile=pebble_root)) as client:
        password = "a long and unusual passphrase"  # noqa: S105 - a throwaway account
        admin = token(client, settings["FIRST_ADMIN_EMAIL"], secrets["FIRST_ADMIN_PASSWORD"])
        client.post(
            "/api/users", headers=admin, json={"email": "bench@example.org", "password": password}
        ).raise_for_status()
        headers = token(client, "bench@example.org", password)
        for n in range(5):
            client.post(
                "/api/upload",
                headers=headers,
                files={"file": (f"file-{n}.bin", b"x" * 2_000_000, "application/octet-stream")},
            ).raise_for_status()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, help="write the results as JSON here too")
    args = parser.parse_args()
    base = world_readable_tmpdir("closo-bench-production-")
    engine = start_engine(base / "docker")
    results: dict[str, object] = {"machine": describe_machine(), "date": datetime.now().isoformat()}
    try:
        project = render(base / "project")
        slug = "closo"
        results["base images"] = ensure_base_images(engine, base_images(project))
        forget_project_images(engine, slug)
        with server_with_acme(base / "server", engine) as (server, pebble_root):
            env = server.script_env()
            results["deploy_all cold, per step (s)"] = deploy_each_step(project, env)
            results["deploy_all warm, nothing changed, per step (s)"] = deploy_each_step(
                project, env
            )
            results["image sizes (MB)"] = image_sizes_mb(engine, slug)
            results["idle memory (MiB)"] = idle_memory_mib(engine, slug)
            some_data(project, pebble_root)
            results["backup of 10 MB of files (s)"] = timed(
                lambda: run_script(project, env, "backup")
            )
            (name,) = [p.name for p in (project / "backups").iterdir()]
            results["restore of it (s)"] = timed(
                lambda: run_script(project, env, "restore", name, stdin=f"{DOMAIN}\n")
            )
            where = server.remote_dir
            results["compose build, cold --no-cache (s)"] = timed(
                lambda: engine.compose(where, "build", "--no-cache", timeout=1800)
            )
            results["compose build, warm (s)"] = timed(lambda: engine.compose(where, "build"))
            engine.compose(where, "stop")
            results["compose up --wait, stopped containers (s)"] = timed(
                lambda: engine.compose(where, "up", "--detach", "--wait")
            )
            engine.compose(where, "down", "--volumes")
            results["compose up --wait, from nothing (s)"] = timed(
                lambda: engine.compose(where, "up", "--detach", "--wait")
            )
    finally:
        engine.stop()
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
