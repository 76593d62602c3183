"""Restores measured with 1 GB of files and 100,000 rows: `restore latest` on the same server
under a visitor's reads, and a disaster recovery onto an emptied server.

Usage (from the repository root, as root, after scripts/setup.sh; about 11 minutes on 2 cores):
    .venv/bin/python bench/restore.py [--files-mb 1024] [--rows 100000] [--out FILE.json]

The deploy layer's deployment (tests/deploy/conftest.py: the default rendering, its own scripts
over a real sshd to the tests' Docker engine, the certificate from Pebble; the `local` backup
repository the default answers give) is deployed with `deploy_all`, then given `--rows` rows in a
table of its own and `--files-mb` of random files (16 MB each) in the storage volume, then backed
up (`backup now` in the backup service's container: a base backup and a file snapshot; then the
current WAL segment archived). Then:
- same server: `restore latest` while two visitors read in a loop (one on /api/health/ready, which
  needs the database and storage; one on /, the frontend's page): its duration, the window of
  failed answers each saw, and the phases the restore printed (each line's time as it arrived);
- disaster recovery, as tests/deploy/test_recovery.py does it: every container and volume of the
  site and the deployment folder removed except the backup repository's volume and
  compose.override.yaml, then `deploy_all` (images kept: they are built from the same project)
  and `restore latest`; then the row count and checksum, the files' count, size and a sample of
  checksums compared with what was backed up, and `status`.
Prints a table (the disaster recovery against its target, 10 minutes) and the JSON.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import threading
import time
from pathlib import Path

from machine import describe_machine
from support.deploy import server_with_acme, steady_load, swap_window
from support.deployment import (
    DOMAIN,
    PROD,
    Deployment,
    archive_now,
    lose_the_server,
    on_server,
    sql,
    volumes_kept_aside,
)
from support.docker.engine import exclusive, start_engine
from support.docker.images import base_images, ensure_base_images
from support.project import render, world_readable_tmpdir

TARGET_SECONDS = 600
FILE_BYTES = 16_000_000
# The rows' count and a checksum of all of them, compared after each restore.
ROWS_CHECK = (
    "SELECT count(*) || ' ' || coalesce(md5(string_agg(label, ',' ORDER BY id)), '-') "
    "FROM bench_rows"
)


def run_timed(deployment: Deployment, script: str, *args: str, **env: str) -> dict:
    """A deploy script run as the tests run it, each line of its output timed as it arrives; the
    lines its remote part says (`  - ...`) are its phases."""
    started = time.monotonic()
    process = subprocess.Popen(
        ["sh", str(deployment.project / PROD / f"{script}.sh"), *args],
        env=deployment.server.script_env(**env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd="/",
    )
    watchdog = threading.Timer(1800, process.kill)
    watchdog.start()
    lines = []
    try:
        for line in process.stdout:
            lines.append((time.monotonic() - started, line.rstrip("\n")))
        code = process.wait()
    finally:
        watchdog.cancel()
    seconds = time.monotonic() - started
    if code != 0:
        tail = "\n".join(text for _, text in lines[-40:])
        raise SystemExit(f"{script} {' '.join(args)} failed ({code}):\n{tail}")
    said = [(at, text.strip()[2:]) for at, text in lines if text.startswith("  - ")]
    phases = [
        {"at_s": round(at, 1), "s": round(end - at, 1), "phase": text}
        for (at, text), end in zip(said, [at for at, _ in said[1:]] + [seconds], strict=True)
    ]
    return {"seconds": round(seconds, 1), "phases": phases, "output": [t for _, t in lines]}


def put_rows(deployment: Deployment, rows: int) -> str:
    create = (
        "CREATE TABLE bench_rows (id bigint PRIMARY KEY, label text NOT NULL, "
        "at timestamptz NOT NULL DEFAULT now())"
    )
    fill = "INSERT INTO bench_rows (id, label) SELECT n, md5(n::text) FROM generate_series(1, %d) n"
    sql(deployment, f"{create}; {fill % rows}")
    return sql(deployment, ROWS_CHECK)


def write_files(deployment: Deployment, megabytes: int) -> int:
    """Random (incompressible) files in the storage volume, 16 MB each, as the storage user."""
    count = max(1, megabytes // 16)
    deployment.engine.docker(
        "exec", "closo_storage", "sh", "-c",
        f"mkdir -p /data/bench && for i in $(seq 1 {count}); do "
        f"head -c {FILE_BYTES} /dev/urandom > /data/bench/file-$i; done",
        timeout=1800,
    )  # fmt: skip
    return count


def files_sample(deployment: Deployment, count: int) -> dict:
    """The files' count and total size, and the SHA-256 of the first, middle and last one."""
    names = " ".join(f"file-{i}" for i in sorted({1, (count + 1) // 2, count}))
    listed = deployment.engine.docker(
        "exec", "closo_storage", "sh", "-c",
        f"cd /data/bench && ls | wc -l && du -sb . | cut -f1 && sha256sum {names}",
        timeout=600,
    ).stdout.split("\n")  # fmt: skip
    return {
        "files": int(listed[0]),
        "bytes": int(listed[1]),
        "sha256": {name: digest for digest, name in (line.split() for line in listed[2:] if line)},
    }


def reported_unavailable(output: list[str]) -> int | None:
    """The restore's own count: `... the site's API and files were unavailable for N s`."""
    found = [re.search(r"unavailable for (\d+) s", line) for line in output]
    return next((int(m.group(1)) for m in found if m), None)


def summary(run: dict) -> dict:
    return {key: value for key, value in run.items() if key != "output"}


def same_server_restore(deployment: Deployment) -> dict:
    with (
        steady_load(deployment.client, "/api/health/ready", {}) as ready,
        steady_load(deployment.client, "/", {}) as page,
    ):
        time.sleep(3)  # both visitors answered before the restore begins
        run = run_timed(deployment, "restore", "latest", CONFIRM_DOMAIN=DOMAIN)
        time.sleep(3)
    return {
        **summary(run),
        "unavailable_reported_s": reported_unavailable(run["output"]),
        "api_ready_reads": swap_window(ready),
        "page_reads": swap_window(page),
    }


def disaster_recovery(deployment: Deployment) -> dict:
    lose_the_server(deployment)
    deployed = run_timed(deployment, "deploy_all")
    restored = run_timed(deployment, "restore", "latest", CONFIRM_DOMAIN=DOMAIN)
    return {
        "deploy_all": summary(deployed),
        "restore": {
            **summary(restored),
            "unavailable_reported_s": reported_unavailable(restored["output"]),
        },
        "total_s": round(deployed["seconds"] + restored["seconds"], 1),
    }


def measure(args: argparse.Namespace) -> dict:
    """Every stage's results go to --out as soon as they are known (a run cut short keeps them)."""
    base = world_readable_tmpdir("closo-bench-restore-")
    engine = start_engine(base / "docker")
    results: dict[str, object] = {
        "machine": describe_machine(),
        "files_mb": args.files_mb,
        "rows": args.rows,
    }

    def checkpoint() -> None:
        if args.out:
            args.out.write_text(json.dumps(results, indent=2) + "\n")

    try:
        project = render(base / "project")
        ensure_base_images(engine, base_images(project))
        with server_with_acme(base, engine) as (server, pebble_root):
            deployment = Deployment(engine, project, server, pebble_root)
            results["first_deploy_all_s"] = run_timed(deployment, "deploy_all")["seconds"]
            rows = put_rows(deployment, args.rows)
            count = write_files(deployment, args.files_mb)
            files = files_sample(deployment, count)
            started = time.monotonic()
            on_server(deployment, "exec", "-T", "backup", "backup", "now")
            archive_now(deployment)
            results["backup_now_s"] = round(time.monotonic() - started, 1)
            results["backed_up"] = {"rows": rows, **files}
            checkpoint()

            results["same_server"] = same_server_restore(deployment)
            results["same_server"]["data_back"] = (
                sql(deployment, ROWS_CHECK) == rows and files_sample(deployment, count) == files
            )
            engine.docker("volume", "rm", *volumes_kept_aside(deployment))
            checkpoint()

            results["disaster_recovery"] = recovery = disaster_recovery(deployment)
            recovery["rows_after"] = sql(deployment, ROWS_CHECK)
            recovery["files_after"] = files_sample(deployment, count)
            recovery["data_back"] = (
                recovery["rows_after"] == rows and recovery["files_after"] == files
            )
            with deployment.client() as client:
                recovery["api_ready_after"] = client.get("/api/health/ready").status_code
            recovery["status_exit"] = deployment.run("status").returncode
            engine.docker("volume", "rm", *volumes_kept_aside(deployment))
    finally:
        checkpoint()
        engine.stop()
    return results


def print_table(results: dict) -> None:
    same = results["same_server"]
    ready = same["api_ready_reads"]
    recovery = results["disaster_recovery"]
    rows = [
        ("files", f"{results['files_mb']} MB ({results['backed_up']['files']} files)"),
        ("rows", f"{results['rows']:,}"),
        ("backup now + WAL archived", f"{results['backup_now_s']} s"),
        ("restore latest, same server", f"{same['seconds']} s"),
        (
            "unavailable window (/api/health/ready)",
            f"{ready['window_s']} s, {ready['failed']} of {ready['requests']} failed, "
            f"statuses {ready['statuses']}; the restore says {same['unavailable_reported_s']} s",
        ),
        ("/ during it", f"{same['page_reads']['failed']} failed, {same['page_reads']['statuses']}"),
        ("DR deploy_all", f"{recovery['deploy_all']['seconds']} s"),
        ("DR restore latest", f"{recovery['restore']['seconds']} s"),
        (
            "DR total",
            f"{recovery['total_s']} s vs target {TARGET_SECONDS} s: "
            + ("met" if recovery["total_s"] < TARGET_SECONDS else "NOT met"),
        ),
        ("data back (same server / DR)", f"{same['data_back']} / {recovery['data_back']}"),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    for title, run in (
        ("same-server restore", same),
        ("DR deploy_all", recovery["deploy_all"]),
        ("DR restore", recovery["restore"]),
    ):
        print(f"\n{title} phases (s):")
        for phase in run["phases"]:
            print(f"  {phase['s']:>6}  {phase['phase'][:100]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files-mb", type=int, default=1024)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--out", type=Path, help="write the results as JSON here too")
    args = parser.parse_args()
    with exclusive("docker-engine"):
        results = measure(args)
    print_table(results)
    print(json.dumps(results, indent=2))
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
