"""The backup service measured: how far behind a commit the repository is, and what a file snapshot
of an unchanged volume costs.

Usage (from the repository root, as root, after scripts/setup.sh; about 6 minutes on 2 cores):
    .venv/bin/python bench/backups.py [--files-mb 512] [--commits 3] [--out FILE.json]
    .venv/bin/python bench/backups.py --only cost [--pairs 5] [--seconds 8]   # ~10 minutes

The deployment of the backups layer (tests/support/backups.py: the stack on the tests' Docker
engine, backing up to SeaweedFS over HTTPS) with the default settings (BACKUP_WAL_SECONDS=60):
- recovery point: a row committed on a quiet database, then the seconds until PostgreSQL's
  archiver reports its WAL segment archived (pgBackRest confirms it is in the repository), for
  `--commits` commits;
- files: `--files-mb` of random files written into the storage volume, a first snapshot, then a
  second with nothing changed: each one's duration and the bytes it added to the repository, as
  restic reports them (the same command as the service's `backup run`);
- disk: what the backups then keep on the server beside the data (the backup service's state
  volume with restic's cache, pgBackRest's spool and log, pg_wal), `du -sk` in the containers.
Prints a table and the JSON.

`--only cost`: what the backups cost the site, in the same deployment, backups on and off
alternating (A B A B, alternate.py; `--pairs` of each, the ratio kept per pair):
- on: as deployed (the backup container running its scheduler; PostgreSQL's archive_command
  pushing each WAL segment through pgBackRest, asynchronously);
- off: the backup container paused (`docker pause`) and archiving off without a restart. The db
  image passes archive_command on postgres's command line (db/db-entrypoint.sh), which outranks
  ALTER SYSTEM, so it cannot be changed by a reload: the db container's pgbackrest is replaced by
  a script that exits 0 (what archive_command = '/bin/true' does: each segment is marked archived
  at once), and the real one put back for "on". The WAL of the "off" rounds never reaches the
  repository: the deployment is a throwaway one.
Each side: `GET /api/users/me` with wrk (-t2 -c16, `--seconds`) on the backend container's own
address and port, then `--seconds` of uploads of 256 KiB random files (`POST /api/upload`, four
threads of httpx clients, one account whose quota is raised), uploads/s and failures counted;
the files are deleted after each side. Targets: on / off >= 0.95 for both.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from alternate import alternate, spread
from http_load import Load, run_wrk, write_script
from machine import describe_machine
from production import address_of, cpu_seconds
from support.backups import DOMAIN, SLUG, BackupSite, backup_site
from support.docker.engine import exclusive, start_engine
from support.project import read_env, world_readable_tmpdir
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


ARCHIVE_COMMAND = "pgbackrest archive-push %p"  # db/db-entrypoint.sh's, on the command line
UPLOAD_BYTES = 256 * 1024
UPLOAD_THREADS = 4
BENCH_EMAIL = "bench@example.org"
BENCH_PASSWORD = "a long and unusual passphrase"  # noqa: S105 - a throwaway account
# pgBackRest in the db container, switched for "off" by a script that exits 0 and back for "on";
# each step a rename, so archive_command never finds no pgbackrest at all.
ARCHIVING_OFF = (
    'set -eu; real="$(command -v pgbackrest)"; '
    '[ -e "$real.bench-real" ] || cp -p "$real" "$real.bench-real"; '
    'printf \'#!/bin/sh\\nexit 0\\n\' > "$real.bench-off"; chmod 0755 "$real.bench-off"; '
    'mv -f "$real.bench-off" "$real"'
)
ARCHIVING_ON = (
    'set -eu; real="$(command -v pgbackrest)"; '
    '[ ! -e "$real.bench-real" ] || mv -f "$real.bench-real" "$real"'
)


def check_archiving_as_deployed(site: BackupSite) -> None:
    """The db image's archiving: on, its command from postgres's command line (what `on`
    restores); ALTER SYSTEM could not override it, hence the switch of the binary."""
    command, source = site.sql(
        "select setting || '|' || source from pg_settings where name = 'archive_command'"
    ).split("|")
    mode = site.sql("show archive_mode")
    if (command, source, mode) != (ARCHIVE_COMMAND, "command line", "on"):
        raise SystemExit(
            f"archiving not as db-entrypoint.sh sets it: archive_command {command!r} from "
            f"{source!r}, archive_mode {mode!r}"
        )


def set_backups(site: BackupSite, on: bool) -> None:
    """On: as deployed. Off: the backup container paused, archive-push a no-op. Checked."""
    db, backup = f"{SLUG}_db", f"{SLUG}_backup"
    paused = site.engine.docker("inspect", "--format", "{{.State.Paused}}", backup).stdout.strip()
    if on:
        site.engine.docker("exec", "-u", "root", db, "sh", "-c", ARCHIVING_ON)
        if paused == "true":
            site.engine.docker("unpause", backup)
    else:
        site.engine.docker("exec", "-u", "root", db, "sh", "-c", ARCHIVING_OFF)
        if paused != "true":
            site.engine.docker("pause", backup)
    version = site.engine.docker("exec", db, "pgbackrest", "version").stdout.strip()
    paused = site.engine.docker("inspect", "--format", "{{.State.Paused}}", backup).stdout.strip()
    command = site.sql("show archive_command")
    if (version.startswith("pgBackRest"), paused) != (on, "false" if on else "true") or (
        command != ARCHIVE_COMMAND
    ):
        raise SystemExit(
            f"backups {'on' if on else 'off'} not in place: pgbackrest version {version!r}, "
            f"backup container paused {paused}, archive_command {command!r}"
        )


def bench_account(site: BackupSite, url: str) -> None:
    """An account made by the first admin, with a quota no run of uploads reaches."""
    settings, secrets = read_env(site.project / "settings.env"), read_env(site.project / ".env")
    with httpx.Client(base_url=url, headers={"Host": DOMAIN}, timeout=30) as client:
        bearer = token(client, settings["FIRST_ADMIN_EMAIL"], secrets["FIRST_ADMIN_PASSWORD"])
        admin = {"Authorization": f"Bearer {bearer}"}
        created = client.post(
            "/api/users", headers=admin, json={"email": BENCH_EMAIL, "password": BENCH_PASSWORD}
        )
        created.raise_for_status()
        client.patch(
            f"/api/users/{created.json()['id']}", headers=admin, json={"quota_mb": 100_000}
        ).raise_for_status()


def token(client: httpx.Client, email: str, password: str) -> str:
    answer = client.post("/api/auth/login", data={"username": email, "password": password})
    answer.raise_for_status()
    return answer.json()["access_token"]


def upload_for(url: str, headers: dict[str, str], seconds: float) -> dict:
    """UPLOAD_THREADS threads, each with its own client, upload random files until the time is
    up. Returns uploads/s (answered 201), failures, each upload's latency, the files' ids."""
    deadline = time.monotonic() + seconds
    lock = threading.Lock()
    ids: list[str] = []
    latencies: list[float] = []
    failures: list[str] = []

    def worker(n: int) -> None:
        with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
            count = 0
            while time.monotonic() < deadline:
                count += 1
                body = os.urandom(UPLOAD_BYTES)
                started = time.monotonic()
                try:
                    answer = client.post(
                        "/api/upload",
                        files={
                            "file": (f"bench-{n}-{count}.bin", body, "application/octet-stream")
                        },
                    )
                except httpx.HTTPError as exc:
                    with lock:
                        failures.append(type(exc).__name__)
                    continue
                took = time.monotonic() - started
                with lock:
                    if answer.status_code == 201:
                        ids.append(answer.json()["id"])
                        latencies.append(took)
                    else:
                        failures.append(str(answer.status_code))

    started = time.monotonic()
    threads = [threading.Thread(target=worker, args=(n,)) for n in range(UPLOAD_THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started  # the last uploads end a little after the deadline
    latencies.sort()
    return {
        "uploads_per_s": round(len(ids) / elapsed, 2),
        "uploads": len(ids),
        "upload_failures": len(failures),
        "upload_failure_kinds": sorted(set(failures)),
        "upload_p50_ms": round(statistics.median(latencies) * 1000, 1) if latencies else None,
        "upload_p99_ms": round(latencies[int(0.99 * (len(latencies) - 1))] * 1000, 1)
        if latencies
        else None,
        "ids": ids,
    }


def delete_files(url: str, headers: dict[str, str], ids: list[str]) -> int:
    """Deletes the files (four at a time); returns how many deletions failed."""

    def delete(chunk: list[str]) -> int:
        with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
            return sum(client.delete(f"/api/files/{i}").status_code != 204 for i in chunk)

    with ThreadPoolExecutor(UPLOAD_THREADS) as pool:
        return sum(pool.map(delete, [ids[n::UPLOAD_THREADS] for n in range(UPLOAD_THREADS)]))


def cost(site: BackupSite, work: Path, url: str, pairs: int, seconds: int) -> dict:
    """Backups on against off, alternating: /api/users/me with wrk, then uploads (see above),
    on the backend at `url`."""
    check_archiving_as_deployed(site)
    bench_account(site, url)

    def side(on: bool, seconds: int):
        def measure() -> dict:
            set_backups(site, on)
            time.sleep(2)  # pgBackRest's background push, a paused scheduler: settled
            # A token per side: it lasts ACCESS_TOKEN_EXPIRE_MINUTES (15).
            with httpx.Client(base_url=url, headers={"Host": DOMAIN}, timeout=30) as client:
                bearer = token(client, BENCH_EMAIL, BENCH_PASSWORD)
            headers = {"Authorization": f"Bearer {bearer}", "Host": DOMAIN}
            script = write_script(work / "users-me.lua", headers=headers)
            used = cpu_seconds(site.engine, f"{SLUG}_backup")
            run = run_wrk(f"{url}/api/users/me", script, Load(seconds=seconds))
            if (
                used is not None
                and (after := cpu_seconds(site.engine, f"{SLUG}_backup")) is not None
            ):
                run["backup_cpu_share"] = round((after - used) / seconds, 4)  # cores, during wrk
            uploads = upload_for(url, headers, seconds)
            run.update(uploads)
            run["delete_failures"] = delete_files(url, headers, run.pop("ids"))
            run["backups"] = "on" if on else "off"
            return run

        return measure

    side(True, 2)(), side(False, 2)()  # warm-up of both, and of each switch
    try:
        compared = alternate(side(False, seconds), side(True, seconds), pairs)
    finally:
        set_backups(site, True)
    off, on = compared["a"], compared["b"]
    upload_ratios = [
        b["uploads_per_s"] / a["uploads_per_s"] if a["uploads_per_s"] else 0.0
        for a, b in zip(off["runs"], on["runs"], strict=True)
    ]
    return {
        "pairs": pairs,
        "seconds": seconds,
        "GET /api/users/me, backend's port (req/s, p50/p99 ms)": {
            "off": {key: off[key] for key in ("rps", "p50_ms", "p99_ms", "errors")},
            "on": {key: on[key] for key in ("rps", "p50_ms", "p99_ms", "errors")},
            "on / off": compared["ratio_b_over_a"],
        },
        "uploads of 256 KiB, 4 threads (per s)": {
            "off": round(statistics.median(run["uploads_per_s"] for run in off["runs"]), 2),
            "on": round(statistics.median(run["uploads_per_s"] for run in on["runs"]), 2),
            "on / off": spread(upload_ratios),
            "failures (off, on)": [
                sum(run["upload_failures"] for run in side["runs"]) for side in (off, on)
            ],
            "delete failures (off, on)": [
                sum(run["delete_failures"] for run in side["runs"]) for side in (off, on)
            ],
        },
        "backup container's CPU during the on rounds' wrk (cores)": spread(
            [run.get("backup_cpu_share", 0.0) for run in on["runs"]]
        ),
        "runs": {"off": off["runs"], "on": on["runs"]},
    }


def print_cost(results: dict) -> None:
    me = results["GET /api/users/me, backend's port (req/s, p50/p99 ms)"]
    up = results["uploads of 256 KiB, 4 threads (per s)"]
    rows = [
        ("users/me req/s", me["off"]["rps"], me["on"]["rps"], me["on / off"]["rps"], ">= 0.95"),
        ("users/me p99 ms", me["off"]["p99_ms"], me["on"]["p99_ms"], me["on / off"]["p99_ms"], ""),
        ("uploads/s", up["off"], up["on"], up["on / off"], ">= 0.95"),
    ]
    print(f"{'':18}{'off':>10}{'on':>10}   {'on / off: median (low-high)':<30}target")
    for name, off, on, ratio, target in rows:
        spread_text = f"{ratio['median']:.3f} ({ratio['low']:.3f}-{ratio['high']:.3f})"
        met = "" if not target else ("  met" if ratio["median"] >= 0.95 else "  NOT met")
        print(f"{name:18}{off:>10}{on:>10}   {spread_text:<30}{target}{met}")
    failures = up["failures (off, on)"]
    errors = (me["off"]["errors"], me["on"]["errors"])
    print(f"upload failures (off, on): {failures}; users/me errors (off, on): {errors}")
    cpu = results["backup container's CPU during the on rounds' wrk (cores)"]
    print(f"backup container's CPU during the on rounds' wrk: {cpu['median']:.4f} cores "
          f"({cpu['low']:.4f}-{cpu['high']:.4f})")  # fmt: skip


@contextlib.contextmanager
def backed_up_site(prefix: str) -> Iterator[tuple[Path, BackupSite]]:
    """The backups layer's deployment on a fresh engine, once its first backups are done; the
    engine stopped after, whatever happened."""
    base = world_readable_tmpdir(prefix)
    engine = start_engine(base / "docker")
    try:
        with backup_site(engine, base / "site") as site:
            wait_for(lambda: site.status()[0] == 0, 300, interval=3, what="first backups")
            yield base, site
    finally:
        engine.stop()


def measure_cost(args: argparse.Namespace) -> dict:
    results: dict[str, object] = {"machine": describe_machine()}
    with backed_up_site("closo-bench-backups-cost-") as (base, site):
        # The backend container's own address and port: no edge, no userland proxy.
        url = f"http://{address_of(site.engine, f'{SLUG}_backend')}:8000"
        results.update(cost(site, base, url, args.pairs, args.seconds))
    return results


def measure(args: argparse.Namespace) -> dict:
    results: dict[str, object] = {"machine": describe_machine()}
    with backed_up_site("closo-bench-backups-") as (_, site):
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
        results["disk used by the backups on the server (KiB)"] = backup_disk_kib(site)
    return results


def backup_disk_kib(site: BackupSite) -> dict[str, int | str]:
    """What the backups keep on the server's disk beside the data they back up (an S3 repository
    is elsewhere): the backup service's state volume (restic's cache, the status), pgBackRest's
    spool and log in the db container (its asynchronous archiving), and pg_wal, which holds
    segments until they are archived (the outage bound: BACKUP_WAL_QUEUE_MAX)."""
    places = {
        "backup service's state volume (restic cache, status)": (
            f"{SLUG}_backup",
            "/var/lib/backup",
        ),
        "of which restic's cache": (f"{SLUG}_backup", "/var/lib/backup/cache"),
        "pgBackRest's spool (db container)": (f"{SLUG}_db", "/var/spool/pgbackrest"),
        "pgBackRest's log (db container)": (f"{SLUG}_db", "/var/log/pgbackrest"),
        "pg_wal": (f"{SLUG}_db", "/var/lib/postgresql/data/pg_wal"),
    }
    sizes: dict[str, int | str] = {}
    for name, (container, path) in places.items():
        # du exits 1 when a file goes while it counts (the scheduler renames its status file
        # every 20 s): its total is still printed, and read.
        du = site.engine.docker("exec", "-u", "root", container, "du", "-sk", path, check=False)
        total = du.stdout.split()
        sizes[name] = (
            int(total[0]) if total and total[0].isdigit() else f"unread: {du.stderr.strip()}"
        )
    return sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    # The tests' SeaweedFS holds about 1 GB (16 volumes of 64 MB): 512 MB and its metadata fit.
    parser.add_argument("--files-mb", type=int, default=512)
    parser.add_argument("--commits", type=int, default=3)
    parser.add_argument("--out", type=Path, help="write the results as JSON here too")
    parser.add_argument(
        "--only",
        choices=("cost",),
        help="cost: GET /api/users/me and uploads with backups on and off, alternating "
        "(instead of the recovery point and snapshots; ~10 minutes)",
    )
    parser.add_argument(
        "--pairs", type=int, default=5, help="--only cost: alternated off/on pairs (default 5)"
    )
    parser.add_argument(
        "--seconds",
        type=int,
        default=8,
        help="--only cost: seconds of wrk, then of uploads, per side (default 8)",
    )
    args = parser.parse_args()
    if args.only == "cost":
        with exclusive("docker-engine"):
            results = measure_cost(args)
        print_cost(results)
        print(json.dumps(results, indent=2))
        if args.out:
            args.out.write_text(json.dumps(results, indent=2) + "\n")
        return
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
