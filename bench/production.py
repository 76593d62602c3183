"""The production path measured: images, compose and the deploy scripts on a real Docker engine.

Usage (from the repository root, as root, after scripts/setup.sh; about 6 minutes on 2 cores):
    .venv/bin/python bench/production.py [--out bench/results/NAME.json]
    .venv/bin/python bench/production.py --only edge   # deploy (images kept), edge/direct only
    .venv/bin/python bench/production.py --only shared-edge   # own edge against the shared one

One run, on this machine, of what a user's first and later deploys cost: the default rendering is
deployed with its own deploy scripts over a real sshd to the tests' Docker engine, the certificate
coming from Pebble (tests/support/deploy.py), first with no image or build cache of the project
(cold: pip downloads every package), then again with nothing changed (warm), each step timed.
Then the images' sizes, each container's memory at idle (and each backend process's RSS, PSS and
USS), `/api/users/me` through the containerised edge alternating with the backend container's own
port (A B A B, wrk), what a visitor reading `/api/users/me` in a loop sees while deploy_backend
replaces the backend (and, for comparison, while compose recreates it with no stand-in), backup
and restore, `compose build` cold (--no-cache) and warm, and `compose up --wait` from stopped
containers and from nothing.
Base images (or their look-alikes) are kept between runs: they are not the project's to build.
"""

from __future__ import annotations

import argparse
import json
import re
import secrets
import shutil
import ssl
import statistics
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from alternate import alternate, spread
from http_load import Load, run_wrk, write_script
from machine import describe_machine
from memory import tree_memory_mb
from support.deploy import server_with_acme, steady_load, swap_window
from support.docker.engine import Engine, exclusive, start_engine
from support.docker.images import base_images, ensure_base_images
from support.docker.site import https_client
from support.project import read_env, render, world_readable_tmpdir
from support.services import built, services
from transfer import MIB, multipart_body

BENCH_DIR = Path(__file__).resolve().parent

STEPS = (
    "deploy_bdd",
    "deploy_slave_storage",
    "deploy_backend",
    "deploy_frontend_no_port",
    "deploy_ssl",
)
DOMAIN = "clo-so.com"
T = TypeVar("T")


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


def image_sizes_mb(engine: Engine, project: Path, slug: str) -> dict[str, float]:
    sizes = {}
    for service in built(project):
        size = engine.docker(
            "image", "inspect", "--format", "{{.Size}}", f"{slug}/{service}:latest"
        )
        sizes[service] = round(int(size.stdout) / 1e6, 1)
    return sizes


def idle_memory_mib(
    engine: Engine, project: Path, slug: str, settle_seconds: int = 20
) -> dict[str, float]:
    time.sleep(settle_seconds)
    stats = engine.docker(
        "stats",
        "--no-stream",
        "--format",
        "{{.Name}} {{.MemUsage}}",
        *(service.container for service in services(project).values()),
    ).stdout
    units = {"KiB": 1 / 1024, "MiB": 1, "GiB": 1024, "B": 1 / 1024 / 1024}
    memory = {}
    for line in stats.splitlines():
        name, usage = line.split(" ", 1)
        value, unit = re.match(r"([\d.]+)(\w+)", usage.split("/")[0].strip()).groups()
        memory[name.removeprefix(f"{slug}_")] = round(float(value) * units[unit], 1)
    memory["whole stack"] = round(sum(memory.values()), 1)
    return memory


def some_data(project: Path, pebble_root: Path) -> dict[str, str]:
    """An account made by the first admin, and five files of 2 MB; returns its Authorization."""
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
    return headers


def address_of(engine: Engine, container: str) -> str:
    return engine.docker(
        "inspect", "--format", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", container
    ).stdout.strip()


def backend_processes_mb(engine: Engine, slug: str) -> dict[str, dict[str, float]]:
    """RSS, PSS and USS of each process of the backend container (seen from this host's /proc):
    uvicorn's supervisor and the workers it forked after importing the app."""
    pid = engine.docker("inspect", "--format", "{{.State.Pid}}", f"{slug}_backend").stdout
    return tree_memory_mb(int(pid))


def edge_connections_to(engine: Engine, slug: str, address: str, port: int) -> int:
    """The edge container's established connections to address:port (its /proc/net/tcp)."""
    table = engine.docker("exec", f"{slug}_nginx", "cat", "/proc/net/tcp").stdout
    remote = "".join(f"{int(octet):02X}" for octet in reversed(address.split("."))) + f":{port:04X}"
    return sum(1 for line in table.splitlines()[1:] if line.split()[2:4] == [remote, "01"])


def docker_edge_against_direct(
    engine: Engine,
    slug: str,
    headers: dict[str, str],
    workdir: Path,
    pairs: int,
    seconds: int,
    edge_container: str | None = None,
) -> dict:
    """`GET /api/users/me` with wrk (-t2 -c16) through the containerised edge (HTTPS to its
    address on the stack's network, its keep-alive pool to the backend) alternating with the
    backend container's own port (plain HTTP to its address), after a warm-up of each.
    `edge_container`: where HTTPS enters (default the site's nginx; the shared edge's name for a
    site behind it)."""
    backend = address_of(engine, f"{slug}_backend")
    script = write_script(workdir / "users-me.lua", headers={**headers, "Host": DOMAIN})

    # Where each request's CPU goes, container by container (their cgroups: the kernel's work
    # for their sockets included): on a machine the backend fills, the edge's share is what the
    # edge side loses.
    containers = [f"{slug}_backend", f"{slug}_db", f"{slug}_nginx"]
    containers += [edge_container] if edge_container else []

    def side(url: str, resolve: tuple[str, str] | None, seconds: int):
        def measure() -> dict:
            run, spent = cpu_during(
                engine, containers, lambda: run_wrk(url, script, Load(seconds=seconds), resolve)
            )
            run["cpu_us"] = {
                name: round(seconds / run["requests"] * 1e6) for name, seconds in spent.items()
            }
            return run

        return measure

    direct_url = f"http://{backend}:8000/api/users/me"
    # The edge container's own address, as the backend's: 127.0.0.1:443 would add Docker's
    # userland proxy (docker-proxy copies every byte for connections from the host's loopback),
    # which a visitor from outside never goes through.
    edge = address_of(engine, edge_container or f"{slug}_nginx")
    edge_url, edge_resolve = f"https://{DOMAIN}/api/users/me", (DOMAIN, edge)
    side(direct_url, None, 2)()
    side(edge_url, edge_resolve, 2)()
    direct, edge = side(direct_url, None, seconds), side(edge_url, edge_resolve, seconds)
    compared = alternate(direct, edge, pairs)
    return {
        "direct": compared["a"],
        "edge": compared["b"],
        "edge_over_direct": compared["ratio_b_over_a"],
        "CPU us per request, median (direct; edge)": [
            {
                name: statistics.median(run["cpu_us"][name] for run in compared[key]["runs"])
                for name in containers
            }
            for key in ("a", "b")
        ],
        "edge_connections_to_backend_after": edge_connections_to(engine, slug, backend, 8000),
    }


# Where the edge's access log goes, switched by a reload inside one deploy (--only edge-log): as
# built (a file of the edge_logs volume), through Docker's logging driver as before (the image's
# /var/log/nginx/access.log is /dev/stdout; same JSON lines, same buffering as before), and off.
ACCESS_LOG_VARIANTS = {
    "file (as built)": "access_log /var/log/edge/access.log edge_json buffer=64k flush=1s;",
    "stdout, buffer=4k": "access_log /var/log/nginx/access.log edge_json buffer=4k flush=1s;",
    "off": "access_log off;",
}


def set_access_log(engine: Engine, slug: str, line: str) -> None:
    snippet = "/etc/nginx/conf.d/snippets/access-log.conf"
    engine.docker(
        "exec", f"{slug}_nginx", "sh", "-c",
        f"printf '%s\\n' \"$0\" > {snippet} && nginx -t -q && nginx -s reload", line,
    )  # fmt: skip
    time.sleep(2)  # the old workers finish; the new ones hold the keep-alive pool


def access_log_variants(
    engine: Engine, slug: str, headers: dict[str, str], workdir: Path, rounds: int, seconds: int
) -> dict:
    """Edge / direct on /api/users/me for each access-log destination, interleaved: round after
    round, each variant gets one pair (direct, edge), so the machine's drift spreads over all."""
    ratios: dict[str, list[float]] = {name: [] for name in ACCESS_LOG_VARIANTS}
    for _ in range(rounds):
        for name, line in ACCESS_LOG_VARIANTS.items():
            set_access_log(engine, slug, line)
            pair = docker_edge_against_direct(engine, slug, headers, workdir, 1, seconds)
            ratios[name].append(pair["edge_over_direct"]["rps"]["median"])
    set_access_log(engine, slug, ACCESS_LOG_VARIANTS["file (as built)"])
    return {name: spread(values) for name, values in ratios.items()}


def shared_edge_against_own(
    engine: Engine, server, pebble_root: Path, project: Path, base: Path, args, results: dict
) -> None:
    """The default site on its own edge, then moved behind the shared edge (rendered again with
    edge=shared, its .env kept, deploy_ssl), each measured against the backend container's port
    (the same reference on both sides, alternating); then two more shared sites deployed beside
    it, and the idle memory of one site against three and the shared edge."""
    env = server.script_env()
    results["deploy_all, own edge (s)"] = deploy_each_step(project, env)
    headers = some_data(project, pebble_root)
    one_site = idle_memory_mib(engine, project, "closo")
    results["idle memory, one site on its own edge (MiB)"] = one_site
    own = docker_edge_against_direct(engine, "closo", headers, base, args.pairs, args.seconds)
    shared = render(base / "shared", edge="shared", max_upload_mb="300")
    shutil.copy(project / ".env", shared / ".env")
    results["deploy_ssl, moving to the shared edge (s)"] = timed(
        lambda: run_script(shared, env, "deploy_ssl")
    )
    relay_before = cpu_seconds(engine, "closo-edge")
    behind = docker_edge_against_direct(
        engine, "closo", headers, base, args.pairs, args.seconds, edge_container="closo-edge"
    )
    # Only the edge side's runs (and its 2 s warm-up) go through the relay.
    behind["shared edge's CPU while wrk went through it (cores)"] = round(
        (cpu_seconds(engine, "closo-edge") - relay_before) / (args.pairs * args.seconds + 2), 3
    )
    own_ratio = own["edge_over_direct"]["rps"]["median"]
    shared_ratio = behind["edge_over_direct"]["rps"]["median"]
    results["GET /api/users/me, own edge / backend port"] = own
    results["GET /api/users/me, shared edge / backend port"] = behind
    results["shared over own (of the two ratios' medians; target >= 0.95)"] = round(
        shared_ratio / own_ratio, 3
    )
    for slug, domain in (("beta", "beta-site.com"), ("gamma", "gamma-site.org")):
        other = render(
            base / slug, project_name=slug.title(), project_slug=slug, domain=domain, edge="shared"
        )
        folder = server.home / "srv" / slug
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(server.remote_dir / "compose.override.yaml", folder)
        subprocess.run(["chown", "-R", f"{server.user}:{server.user}", str(folder)], check=True)
        results[f"deploy_all, shared site {slug} (s)"] = timed(
            lambda o=other, f=folder: run_script(o, {**env, "REMOTE_DIR": str(f)}, "deploy_all")
        )
    memory = {
        slug: idle_memory_mib(engine, where, slug, settle_seconds=0 if slug != "closo" else 20)[
            "whole stack"
        ]
        for slug, where in (("closo", shared), ("beta", base / "beta"), ("gamma", base / "gamma"))
    }
    memory["shared edge"] = container_memory_mib(engine, "closo-edge")
    memory["three sites and the shared edge"] = round(sum(memory.values()), 1)
    memory["three times one site on its own edge"] = round(3 * one_site["whole stack"], 1)
    results["idle memory, three shared sites (MiB)"] = memory
    for slug in ("beta", "gamma"):  # the first site and the shared edge: server_with_acme's
        engine.compose(server.home / "srv" / slug, "down", "--volumes", check=False)
    # Last: the file's pages stay in the page cache, which `docker stats` counts as the
    # containers' memory.
    results[f"a {DOWNLOAD_MIB} MiB download, shared edge against the site's nginx"] = (
        download_through_relay(engine, "closo", pebble_root, headers, args.pairs)
    )


DOWNLOAD_MIB = 256


def upload_big_file(pebble_root: Path, headers: dict[str, str]) -> str:
    """A file of DOWNLOAD_MIB through the edge (streamed, generated on the fly); its link."""
    boundary = secrets.token_hex(16)
    body, length = multipart_body(DOWNLOAD_MIB, boundary)
    sent = {
        **headers,
        "Content-Type": f"multipart/form-data; boundary={boundary}",
        "Content-Length": str(length),
    }
    trusted = ssl.create_default_context(cafile=pebble_root)
    with https_client(DOMAIN, trusted, timeout=600) as client:
        answer = client.post("/api/upload", content=body, headers=sent)
    answer.raise_for_status()
    url = answer.json()["url"]
    return url if url.startswith("https://") else f"https://{DOMAIN}{url}"


def download_mib_per_s(
    url: str, pebble_root: Path, address: str, proxy_header: bool, limit: str | None = None
) -> float:
    """One download with curl to `address`: MiB/s; `proxy_header`: a PROXY protocol header first,
    as the shared edge sends (the site's nginx behind it takes no connection without one);
    `limit`: curl's --limit-rate (a visitor behind the server's link)."""
    command = ["curl", "-sS", "--fail", "--cacert", str(pebble_root), "-o", "/dev/null"]
    command += ["--resolve", f"{DOMAIN}:443:{address}", "-w", "%{speed_download} %{size_download}"]
    command += [*(["--haproxy-protocol"] if proxy_header else [])]
    command += [*(["--limit-rate", limit] if limit else [])]
    result = subprocess.run(
        [*command, url], capture_output=True, text=True, timeout=300, check=False
    )
    if result.returncode != 0:
        raise SystemExit(f"curl {url} via {address}: {result.returncode} {result.stderr.strip()}")
    speed, size = result.stdout.split()
    if int(size) != DOWNLOAD_MIB * MIB:
        raise SystemExit(f"curl {url} via {address}: {size} bytes, not {DOWNLOAD_MIB} MiB")
    return float(speed) / MIB


# A server's 1 Gbit/s link, in curl's --limit-rate units (bytes): what a visitor's download gets
# at most from a small VPS.
LINK_RATE = "119M"


def download_through_relay(
    engine: Engine, slug: str, pebble_root: Path, headers: dict[str, str], pairs: int
) -> dict:
    """A DOWNLOAD_MIB file through the shared edge against the same file from the site's own
    nginx with the PROXY header the shared edge would send (curl --haproxy-protocol): the
    relay's cost alone, both sides in the same deployment, alternating (pairs, after a warm-up
    of each). curl runs on the server's cores here, so the relay's CPU is taken from it and the
    site's nginx; then the same at a 1 Gbit/s link's rate (2 pairs), as a visitor gets it, and
    the CPU per GiB of the relay and of the site's nginx on each side."""
    url = upload_big_file(pebble_root, headers)
    site = address_of_on(engine, f"{slug}_nginx", "closo-edge")
    edge = address_of(engine, "closo-edge")
    spent = {side: {"closo-edge": 0.0, f"{slug}_nginx": 0.0} for side in ("direct", "relayed")}

    def download(side: str, limit: str | None = None) -> float:
        speed, used = cpu_during(
            engine,
            list(spent[side]),
            lambda: download_mib_per_s(
                url, pebble_root, site if side == "direct" else edge, side == "direct", limit
            ),
        )
        if limit is None:
            for name, seconds in used.items():
                spent[side][name] += seconds
        return speed

    def pairs_of(count: int, limit: str | None = None) -> list[tuple[float, float]]:
        runs = []
        for pair in range(count):  # a b, b a, a b: neither side always runs second
            if pair % 2:
                b, a = download("relayed", limit), download("direct", limit)
            else:
                a, b = download("direct", limit), download("relayed", limit)
            runs.append((a, b))
        return runs

    download("direct", LINK_RATE), download("relayed", LINK_RATE)  # warm-up: page cache, paths
    runs = pairs_of(pairs)
    link = pairs_of(2, LINK_RATE)
    gib = pairs * DOWNLOAD_MIB / 1024
    return {
        "site's nginx, PROXY header from curl (MiB/s)": [round(a, 1) for a, _ in runs],
        "through the shared edge (MiB/s)": [round(b, 1) for _, b in runs],
        "shared edge / site's nginx (target >= 0.95)": spread([b / a for a, b in runs]),
        "CPU s per GiB (direct: site's nginx; relayed: shared edge, site's nginx)": [
            round(spent["direct"][f"{slug}_nginx"] / gib, 2),
            round(spent["relayed"]["closo-edge"] / gib, 2),
            round(spent["relayed"][f"{slug}_nginx"] / gib, 2),
        ],
        f"at a 1 Gbit/s link (curl --limit-rate {LINK_RATE}), MiB/s direct, relayed": [
            [round(a, 1), round(b, 1)] for a, b in link
        ],
        "at a 1 Gbit/s link, shared edge / site's nginx": spread([b / a for a, b in link]),
    }


# A container's CPU time as it sees its own cgroup: cgroup v2's cpu.stat, or v1's cpuacct.
CPU_USAGE = "cat /sys/fs/cgroup/cpu.stat 2>/dev/null || cat /sys/fs/cgroup/cpuacct/cpuacct.usage"


def cpu_seconds(engine: Engine, container: str) -> float | None:
    """CPU seconds the container has used; None when it cannot be read (a paused container)."""
    read = engine.docker("exec", container, "sh", "-c", CPU_USAGE, check=False)
    v2 = re.search(r"^usage_usec (\d+)", read.stdout, re.M)
    if v2:
        return int(v2.group(1)) / 1e6
    v1 = read.stdout.strip()
    return int(v1) / 1e9 if read.returncode == 0 and v1.isdigit() else None


def cpu_during(engine: Engine, containers: list[str], action: Callable[[], T]) -> tuple[T, dict]:
    """What `action` returns, and the CPU seconds each container used meanwhile (0 for one whose
    CPU cannot be read)."""
    before = {name: cpu_seconds(engine, name) or 0.0 for name in containers}
    result = action()
    return result, {name: (cpu_seconds(engine, name) or 0.0) - before[name] for name in containers}


def address_of_on(engine: Engine, container: str, network: str) -> str:
    return engine.docker(
        "inspect", "--format", f'{{{{(index .NetworkSettings.Networks "{network}").IPAddress}}}}',
        container,
    ).stdout.strip()  # fmt: skip


def container_memory_mib(engine: Engine, name: str) -> float:
    usage = engine.docker("stats", "--no-stream", "--format", "{{.MemUsage}}", name).stdout
    value, unit = re.match(r"([\d.]+)(\w+)", usage.split("/")[0].strip()).groups()
    return round(float(value) * {"KiB": 1 / 1024, "MiB": 1, "GiB": 1024, "B": 2**-20}[unit], 1)


def edge_upstream_errors(engine: Engine, slug: str, since: str) -> list[str]:
    """What the edge logged about its upstreams since `since` (connects refused or timed out)."""
    log = engine.docker("logs", "--since", since, f"{slug}_nginx", check=False)
    lines = (log.stdout + log.stderr).splitlines()
    return [line[:300] for line in lines if "upstream" in line and "[error]" in line][:10]


def swap_under_load(
    engine: Engine,
    project: Path,
    env: dict[str, str],
    pebble_root: Path,
    headers: dict[str, str],
    work: Path,
) -> dict:
    """deploy_backend of an edited backend while a visitor reads /api/users/me in a loop."""
    since = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    edited = shutil.copytree(project, work / "edited-project", symlinks=True)
    main = next(edited.glob("*/backend/app/main.py"))
    main.write_text(main.read_text() + "\n# An edit: the backend is rebuilt and replaced.\n")
    trusted = ssl.create_default_context(cafile=pebble_root)
    with steady_load(lambda: https_client(DOMAIN, trusted), "/api/users/me", headers) as answers:
        time.sleep(2)
        seconds = timed(lambda: run_script(edited, env, "deploy_backend"))
        time.sleep(2)
    return {
        "deploy_backend (s)": seconds,
        **swap_window(answers),
        "edge errors": edge_upstream_errors(engine, "closo", since),
    }


def recreate_under_load(
    engine: Engine, where: Path, pebble_root: Path, headers: dict[str, str]
) -> dict:
    """For comparison, the swap with no stand-in: compose recreates the backend container
    (stop, then start) while the same visitor reads; the edge answers JSON 503 meanwhile."""
    trusted = ssl.create_default_context(cafile=pebble_root)
    with steady_load(lambda: https_client(DOMAIN, trusted), "/api/users/me", headers) as answers:
        time.sleep(2)
        engine.compose(
            where, "up", "--detach", "--no-deps", "--force-recreate", "--wait", "backend"
        )
        time.sleep(3)
    return swap_window(answers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, help="write the results as JSON here too")
    parser.add_argument(
        "--pairs", type=int, default=3, help="alternated pairs of edge/direct runs (default 3)"
    )
    parser.add_argument("--seconds", type=int, default=8, help="seconds per wrk run (default 8)")
    parser.add_argument(
        "--only",
        choices=("edge", "edge-log", "shared-edge"),
        help="edge: one deploy (the project's images and build cache kept), then only the "
        "containerised edge against the backend container's port (~3 min); edge-log: the same "
        "deploy, then edge/direct pairs with the edge's access log in its file, on stdout (as "
        "before) and off, switched by reloads, --pairs rounds; shared-edge: the site on its own "
        "edge, then moved to the shared edge, each against the backend's port (with the relay's "
        "CPU), a 256 MiB download through the shared edge against the site's nginx (curl with "
        "a PROXY header), then three shared sites' idle memory (~17 min)",
    )
    args = parser.parse_args()
    # The tests' engine, ports 80/443 and the look-alike images are the machine's: wait for a
    # test run that holds them, as the containers and deploy layers do.
    with exclusive("docker-engine"):
        measure(args)


def measure(args: argparse.Namespace) -> None:
    base = world_readable_tmpdir("closo-bench-production-")
    engine = start_engine(base / "docker")
    results: dict[str, object] = {"machine": describe_machine(), "date": datetime.now().isoformat()}
    try:
        # The shared-edge mode downloads a file of DOWNLOAD_MIB: the site must take its upload.
        big = {"max_upload_mb": "300"} if args.only == "shared-edge" else {}
        project = render(base / "project", **big)
        slug = "closo"
        results["base images"] = ensure_base_images(engine, base_images(project))
        if args.only == "shared-edge":
            with server_with_acme(base / "server", engine) as (server, pebble_root):
                shared_edge_against_own(engine, server, pebble_root, project, base, args, results)
        elif args.only in ("edge", "edge-log"):
            with server_with_acme(base / "server", engine) as (server, pebble_root):
                results["deploy_all (s)"] = deploy_each_step(project, server.script_env())
                headers = some_data(project, pebble_root)
                results["GET /api/users/me, containerised edge against the backend's port"] = (
                    docker_edge_against_direct(
                        engine, slug, headers, base, args.pairs, args.seconds
                    )
                )
                if args.only == "edge-log":
                    results["edge / direct req/s by access-log destination"] = access_log_variants(
                        engine, slug, headers, base, args.pairs, args.seconds
                    )
        else:
            measure_everything(engine, project, slug, args, base, results)
    finally:
        engine.stop()
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")


def measure_everything(
    engine: Engine, project: Path, slug: str, args: argparse.Namespace, base: Path, results: dict
) -> None:
    """Everything: a cold deploy with no image of the project, then a warm one, and the rest."""
    forget_project_images(engine, slug)
    with server_with_acme(base / "server", engine) as (server, pebble_root):
        env = server.script_env()
        results["deploy_all cold, per step (s)"] = deploy_each_step(project, env)
        results["deploy_all warm, nothing changed, per step (s)"] = deploy_each_step(project, env)
        results["image sizes (MB)"] = image_sizes_mb(engine, project, slug)
        results["idle memory (MiB)"] = idle_memory_mib(engine, project, slug)
        results["backend processes at idle, RSS/PSS/USS (MB)"] = backend_processes_mb(engine, slug)
        headers = some_data(project, pebble_root)
        results["GET /api/users/me, containerised edge against the backend's port"] = (
            docker_edge_against_direct(engine, slug, headers, base, args.pairs, args.seconds)
        )
        results["deploy_backend under load"] = swap_under_load(
            engine, project, env, pebble_root, headers, base
        )
        results["compose recreate of the backend under load (no stand-in)"] = recreate_under_load(
            engine, server.remote_dir, pebble_root, headers
        )
        results["backup of 10 MB of files (s)"] = timed(lambda: run_script(project, env, "backup"))
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


if __name__ == "__main__":
    main()
