"""The issue's targets checked against a run's results, and the table printed at the end."""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass

# More cores than this busy just before the run: something else shares the machine.
BUSY_CORES = 0.2


@dataclass(frozen=True)
class Target:
    label: str
    path: tuple[str, ...]  # where the value sits in the results
    compare: Callable[[float, float], bool]
    threshold: float
    text: str  # the target as a person reads it


TARGETS = (
    Target("render", ("render", "median_s"), operator.lt, 1.0, "< 1 s"),
    Target("up, warm", ("up_warm", "median_s"), operator.lt, 10.0, "< 10 s"),
    Target(
        "users/me direct req/s", ("api", "users_me", "direct", "rps"), operator.ge, 900, ">= 900"
    ),
    Target(
        "users/me direct p99", ("api", "users_me", "direct", "p99_ms"), operator.lt, 50, "< 50 ms"
    ),
    Target("users/me edge req/s", ("api", "users_me", "edge", "rps"), operator.ge, 900, ">= 900"),
    Target("users/me edge p99", ("api", "users_me", "edge", "p99_ms"), operator.lt, 50, "< 50 ms"),
    Target(
        "edge/direct users/me rps",
        ("api", "users_me", "edge_over_direct", "rps", "median"),
        operator.ge,
        0.95,
        ">= 0.95",
    ),
    Target(
        "edge/direct users/me p99",
        ("api", "users_me", "edge_over_direct", "p99_ms", "median"),
        operator.le,
        1.2,
        "<= 1.2",
    ),
    Target(
        "2/1 workers users/me rps",
        ("workers", "many_over_one", "rps", "median"),
        operator.ge,
        1.5,
        ">= 1.5",
    ),
    Target("idle RSS per worker", ("idle_rss_per_worker_max_mb",), operator.le, 70, "<= 70 MB"),
    # The same target read as each worker's share of memory: pages a forked worker shares with
    # its parent (the imports) are split between them, as the kernel would free them.
    Target(
        "idle PSS per backend worker",
        ("idle_pss_per_worker_max_mb",),
        operator.le,
        70,
        "<= 70 MB",
    ),
    Target(
        "login backend peak",
        ("login", "memory", "backend", "peak_total_mb"),
        operator.lt,
        300,
        "< 300 MB",
    ),
    Target(
        "upload backend peak",
        ("upload", "memory", "backend", "peak_rss_mb"),
        operator.lt,
        100,
        "< 100 MB",
    ),
    Target(
        "upload storage peak",
        ("upload", "memory", "storage", "peak_rss_mb"),
        operator.lt,
        100,
        "< 100 MB",
    ),
    Target("download / static", ("download", "ratio"), operator.ge, 0.8, ">= 80 %"),
)


def memory_roles(processes: dict[str, dict[str, float]]) -> str:
    return ", ".join(
        f"{role} {m['rss']:.0f}/{m['pss']:.0f}/{m['uss']:.0f} MB" for role, m in processes.items()
    )


def lookup(results: dict, path: tuple[str, ...]) -> float | None:
    value: object = results
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value if isinstance(value, int | float) else None


def check_targets(results: dict) -> list[dict]:
    checked = []
    for target in TARGETS:
        value = lookup(results, target.path)
        checked.append(
            {
                "target": target.label,
                "value": value,
                "wanted": target.text,
                "met": None if value is None else target.compare(value, target.threshold),
            }
        )
    return checked


def busiest(cores: dict[str, float] | None) -> str:
    """The two processes that used the most CPU, e.g. `backend 0.98, nginx 0.31 cores`."""
    if not cores:
        return ""
    top = sorted(cores.items(), key=lambda item: item[1], reverse=True)[:2]
    return "  cpu: " + ", ".join(f"{name} {value:.2f}" for name, value in top)


def measured_row(label: str, r: dict) -> tuple[str, str]:
    """One side of a comparison: the medians of its runs."""
    runs = f" (median of {len(r['runs'])})" if "runs" in r else ""
    return (
        label + runs,
        f"{r['rps']:7.0f} req/s  p50 {r['p50_ms']:6.2f} ms  p99 {r['p99_ms']:6.2f} ms"
        + (f"  errors {r['errors']}" if r["errors"] else "")
        + busiest(r.get("cpu_cores")),
    )


def ratio_row(label: str, ratios: dict) -> tuple[str, str]:
    """Median pair ratio (lowest–highest) of requests/s and of p99."""
    rps, p99 = ratios["rps"], ratios["p99_ms"]
    return (
        label + ", pair ratios",
        f"req/s {rps['median']:.2f} ({rps['low']:.2f}–{rps['high']:.2f})  "
        f"p99 {p99['median']:.2f} ({p99['low']:.2f}–{p99['high']:.2f})",
    )


def rows(results: dict) -> list[tuple[str, str]]:
    """(measurement, value) lines of the table, for whatever parts the run measured."""
    out: list[tuple[str, str]] = []
    if render := results.get("render"):
        out.append(
            (f"render: copier copy, median of {render['runs']}", f"{render['median_s']:.2f} s")
        )
        out.append(
            ("rendered project", f"{render['files']} files, {render['bytes'] / 1024:.0f} KiB")
        )
    if cold := results.get("up_cold"):
        cold_value = cold.get("skipped") or f"{cold['seconds']} s"
        out.append(("up → healthy, cold (venv built)", cold_value))
    if warm := results.get("up_warm"):
        out.append((f"up → healthy, warm, median of {warm['runs']}", f"{warm['median_s']:.2f} s"))
    for service, processes in results.get("idle_rss_mb", {}).items():
        sizes = ", ".join(f"{role} {mb:.0f} MB" for role, mb in processes.items())
        out.append((f"RSS after boot, {service}", sizes))
    for service, processes in results.get("idle_memory_mb", {}).items():
        out.append((f"RSS/PSS/USS after boot, {service}", memory_roles(processes)))
    for routes in results.get("api", {}).values():
        for route in ("direct", "edge"):
            path = routes[route]["url"].split("/", 3)[3]
            out.append(measured_row(f"GET {path:<13} {route}", routes[route]))
        out.append(ratio_row("  edge / direct", routes["edge_over_direct"]))
        pooled = routes["edge_idle_connections_to_backend"]
        out.append(("  edge → backend connections kept open after", str(pooled)))
    if workers := results.get("workers"):
        many = workers["workers"]
        out.append(measured_row("GET /api/users/me 1 worker", workers["one"]))
        out.append(measured_row(f"GET /api/users/me {many} workers", workers["many"]))
        out.append(ratio_row(f"  {many} workers / 1", workers["many_over_one"]))
        if "old" in workers:
            out.append(measured_row(f"GET /api/users/me {many} old uvicorn", workers["old"]))
            out.append(measured_row(f"GET /api/users/me {many} gunicorn", workers["new"]))
            out.append(ratio_row("  gunicorn / old uvicorn", workers["new_over_old"]))
            ratios = ", ".join(f"{k} {v:.2f}" for k, v in workers["memory_new_over_old"].items())
            out.append(("  idle memory, gunicorn / old uvicorn", ratios))
            for side, stops in workers["shutdown"].items():
                out.append(
                    (
                        f"  SIGTERM with a request in flight, {side}",
                        ", ".join(
                            f"{s['in_flight_answer'] or 'cut'} exit {s['exit_s']:.2f} s"
                            for s in stops
                        ),
                    )
                )
        for label, processes in workers["idle_rss_mb"].items():
            sizes = ", ".join(f"{role} {mb:.0f} MB" for role, mb in processes.items())
            out.append((f"RSS at idle, backend of {label}", sizes))
        for label, processes in workers.get("idle_memory_mb", {}).items():
            out.append((f"RSS/PSS/USS at idle, {label}", memory_roles(processes)))
    if login := results.get("login"):
        out.append(
            (
                "POST /api/auth/login edge",
                f"{login['rps']:7.0f} req/s  p50 {login['p50_ms']:6.1f} ms  "
                f"p99 {login['p99_ms']:6.1f} ms  backend peak "
                f"{login['memory']['backend']['peak_total_mb']:.0f} MB "
                f"({login['memory']['backend']['processes']} processes)"
                + (f"  errors {login['errors']}" if login["errors"] else "")
                + busiest(login.get("cpu_cores")),
            )
        )
    if upload := results.get("upload"):
        memory = upload["memory"]
        out.append(
            (
                f"upload {upload['size_mib']} MiB via edge",
                f"{upload['mib_per_s']:.0f} MiB/s ({upload['seconds']} s)  peak backend "
                f"{memory['backend']['peak_rss_mb']:.0f} MB, storage "
                f"{memory['storage']['peak_rss_mb']:.0f} MB" + busiest(upload.get("cpu_cores")),
            )
        )
    if download := results.get("download"):
        out.append(
            (
                f"download {download['size_mib']} MiB, median of {download['runs']}",
                f"edge {download['edge']['median_mib_per_s']:.0f} MiB/s, static nginx "
                f"{download['static']['median_mib_per_s']:.0f} MiB/s: {download['ratio']:.0%}",
            )
        )
    if "down_s" in results:
        out.append(("down (stop every service)", f"{results['down_s']} s"))
    return out


def format_table(results: dict) -> str:
    lines = [f"{name:<48} {value}" for name, value in rows(results)]
    lines.append("")
    lines.append(f"{'target':<26} {'value':>10}  {'wanted':<10} met")
    for check in results.get("targets", []):
        value = "-" if check["value"] is None else f"{check['value']:g}"
        met = {True: "yes", False: "NO", None: "-"}[check["met"]]
        lines.append(f"{check['target']:<26} {value:>10}  {check['wanted']:<10} {met}")
    machine = results.get("machine", {})
    busy = machine.get("busy_cores_before_run", 0)
    if busy > BUSY_CORES:
        lines.append(
            f"\nwarning: {busy:g} of {machine.get('cores')} cores were busy just before the run: "
            "other work shared the machine, so these numbers are pessimistic."
        )
    return "\n".join(lines)
