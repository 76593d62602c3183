"""The backup service measured: how far behind a commit the repository is, and what a file snapshot
of an unchanged volume costs.

Usage (from the repository root, as root, after scripts/setup.sh; about 6 minutes on 2 cores):
    .venv/bin/python bench/backups.py [--files-mb 512] [--commits 3] [--out FILE.json]

The deployment of the backups layer (tests/support/backups.py: the stack on the tests' Docker
engine, backing up to SeaweedFS over HTTPS) with the default settings (BACKUP_WAL_SECONDS=60):
- recovery point: a row committed on a quiet database, then the seconds until PostgreSQL's
  archiver reports its WAL segment archived (pgBackRest confirms it is in the repository), for
  `--commits` commits;
- files: `--files-mb` of random files written into the storage volume, a first snapshot, then a
  second with nothing changed: each one's duration and the bytes it added to the repository, as
  restic reports them (the same command as the service's `backup run`).
Prints a table and the JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from machine import describe_machine
from support.backups import SLUG, BackupSite, backup_site
from support.docker.engine import exclusive, start_engine
from support.project import world_readable_tmpdir
from support.waiting import wait_for

SNAPSHOT = "backup --json --host files --tag files --exclude /data/.tmp /data"


def recovery_points(site: BackupSite, commits: int) -> list[float]:
    site.sql("create table if not exists bench_ledger (id serial primary key, at timestamptz)")
    seconds = []
    for _ in range(commits):
        segment = site.sql(
            "insert into bench_ledger (at) values (now()); "
            "select pg_walfile_name(pg_current_wal_lsn())"
        ).splitlines()[-1]
        committed = time.monotonic()
        wait_for(
            lambda s=segment: (
                site.sql("select coalesce(last_archived_wal, '') from pg_stat_archiver")[:24] >= s
            ),
            180,
            interval=0.5,
            what=f"{segment} archived",
        )
        seconds.append(round(time.monotonic() - committed, 1))
    return seconds


def snapshot(site: BackupSite) -> dict:
    lines = site.restic(SNAPSHOT).splitlines()
    summary = next(
        json.loads(line) for line in reversed(lines) if '"message_type":"summary"' in line
    )
    return {
        "seconds": round(summary["total_duration"], 2),
        "bytes_added": summary["data_added"],
        "files": summary["total_files_processed"],
        "bytes_processed": summary["total_bytes_processed"],
    }


def write_files(site: BackupSite, megabytes: int) -> None:
    """Random (incompressible) files in the storage volume, 16 MB each, as the storage user."""
    count = max(1, megabytes // 16)
    site.engine.docker(
        "exec", f"{SLUG}_storage", "sh", "-c",
        f"mkdir -p /data/bench && for i in $(seq 1 {count}); do "
        "head -c 16000000 /dev/urandom > /data/bench/file-$i; done",
        timeout=1800,
    )  # fmt: skip


def measure(args: argparse.Namespace) -> dict:
    base = world_readable_tmpdir("closo-bench-backups-")
    engine = start_engine(base / "docker")
    results: dict[str, object] = {"machine": describe_machine()}
    try:
        with backup_site(engine, base / "site") as site:
            wait_for(lambda: site.status()[0] == 0, 300, interval=3, what="first backups")
            points = recovery_points(site, args.commits)
            results["recovery_point_seconds"] = {
                "runs": points,
                "median": statistics.median(points),
                "max": max(points),
            }
            write_files(site, args.files_mb)
            results["files_mb"] = args.files_mb
            results["first_snapshot"] = snapshot(site)
            results["unchanged_snapshot"] = snapshot(site)
    finally:
        engine.stop()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    # The tests' SeaweedFS holds about 1 GB (16 volumes of 64 MB): 512 MB and its metadata fit.
    parser.add_argument("--files-mb", type=int, default=512)
    parser.add_argument("--commits", type=int, default=3)
    parser.add_argument("--out", type=Path, help="write the results as JSON here too")
    args = parser.parse_args()
    with exclusive("docker-engine"):
        results = measure(args)
    points = results["recovery_point_seconds"]
    print(
        f"recovery point (commit -> repository): median {points['median']} s, max {points['max']} s"
    )
    for name in ("first_snapshot", "unchanged_snapshot"):
        run = results[name]
        print(
            f"{name.replace('_', ' ')} of {results['files_mb']} MB: {run['seconds']} s, "
            f"{run['bytes_added']} bytes added"
        )
    print(json.dumps(results, indent=2))
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
