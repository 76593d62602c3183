"""The checks of one round. Each gives Results: ok, bad (an alert) or unknown (nothing to say:
its source is absent or not configured; never an alert)."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from . import metrics
from .config import Config
from .probes import edge_answer, http_get, not_after, replicas

OK, BAD, UNKNOWN = "ok", "bad", "unknown"
RESTART_WINDOW_S = 900
RETRY_AFTER_S = 1.0


@dataclass(frozen=True)
class Result:
    key: str  # stable name of what is checked: health:backend, certificate, disk:storage_data…
    state: str
    summary: str


def describe(error: BaseException) -> str:
    reason = getattr(error, "reason", None) or error
    return str(reason) or type(error).__name__


def answer_of(url: str) -> tuple[int, bytes, str]:
    """(status, body, what to say); status 0 when nothing answered."""
    try:
        status, body = http_get(url)
    except (OSError, ValueError) as error:
        return 0, b"", f"does not answer ({describe(error)})"
    return status, body, f"answers {status}"


def dependencies(body: bytes) -> dict[str, str]:
    """The `checks` of a readiness answer ({"checks": {"database": "ok", ...}}), if any."""
    try:
        found = json.loads(body).get("checks")
    except (ValueError, AttributeError):
        return {}
    return {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {}


def health(config: Config, name: str, url: str) -> list[Result]:
    """A service is down when its health URL fails twice, a second apart (one lost packet or a
    worker recycling is not an incident). A readiness answer that names its dependencies (the
    backend's: database, storage) counts as the service answering: each dependency is its own
    check (health:database), except those the watcher asks directly, so that one incident (storage
    stopped) makes one alert, not one more for every service that needs it."""
    status, body, said = answer_of(url)
    if not 200 <= status < 400:
        time.sleep(RETRY_AFTER_S)
        status, body, said = answer_of(url)
    needs = dependencies(body) if status else {}
    well = 200 <= status < 400 or bool(needs)
    found = [Result(f"health:{name}", OK if well else BAD, f"{name} {said}")]
    for need, value in needs.items():
        if need not in config.health:
            state, seen = (OK, "answers") if value == "ok" else (BAD, value)
            found.append(Result(f"health:{need}", state, f"{need} {seen} (seen by {name})"))
    return found


def edge_and_certificate(config: Config) -> Iterator[Result]:
    """One handshake with the edge: it answers over HTTPS (any HTTP status: a 502 is an
    upstream's fault, which its own check reports), and its certificate's days left."""
    if not config.edge:
        yield Result("edge", UNKNOWN, "edge: not configured (WATCH_EDGE)")
        return
    try:
        status, der = edge_answer(
            config.edge, config.site, proxy_protocol=config.edge_proxy_protocol
        )
    except (OSError, ValueError) as error:
        yield Result("edge", BAD, f"the edge does not answer over HTTPS ({describe(error)})")
        yield Result("certificate", UNKNOWN, "certificate: the edge does not answer")
        return
    yield Result("edge", OK, f"the edge answers over HTTPS ({status})")
    try:
        expires = not_after(der)
    except (IndexError, ValueError):
        yield Result("certificate", UNKNOWN, "certificate: its expiry could not be read")
        return
    days = (expires - dt.datetime.now(dt.UTC)).total_seconds() / 86400
    state = BAD if days < config.cert_days else OK
    when = expires.strftime("%Y-%m-%d %H:%M UTC")
    said = f"certificate of {config.site}: {days:.1f} days left ({when})"
    yield Result("certificate", state, said)


def disks(config: Config) -> Iterator[Result]:
    for volume, folder in config.disks.items():
        try:
            usage = shutil.disk_usage(folder)
        except OSError as error:
            said = f"disk {volume}: not mounted ({describe(error)})"
            yield Result(f"disk:{volume}", UNKNOWN, said)
            continue
        free = 100.0 * usage.free / usage.total if usage.total else 0.0
        state = BAD if free < config.disk_percent else OK
        gb = usage.free / 1e9
        yield Result(f"disk:{volume}", state, f"disk {volume}: {free:.1f} % free ({gb:.2f} GB)")


def memory(config: Config, meminfo: Path = Path("/proc/meminfo")) -> Result:
    try:
        fields = dict(line.split(":", 1) for line in meminfo.read_text().splitlines())
        total = int(fields["MemTotal"].split()[0])
        available = int(fields["MemAvailable"].split()[0])
    except (OSError, KeyError, ValueError):
        return Result("memory", UNKNOWN, "memory: /proc/meminfo has no MemAvailable")
    free = 100.0 * available / total
    state = BAD if free < config.memory_percent else OK
    return Result("memory", state, f"memory: {free:.1f} % available ({available // 1024} MB)")


class RestartTracker:
    """A service restarting in a loop, seen from outside: its health going bad then good again
    RESTART_ALERT_COUNT times within 15 minutes. (One that never comes back is a health alert.)"""

    def __init__(self) -> None:
        self.previous: dict[str, str] = {}
        self.returns: dict[str, list[float]] = {}

    def observe(self, config: Config, result: Result, now: float) -> Result:
        name = result.key.split(":", 1)[1]
        if self.previous.get(name) == BAD and result.state == OK:
            self.returns.setdefault(name, []).append(now)
        self.previous[name] = result.state
        recent = [t for t in self.returns.get(name, []) if now - t < RESTART_WINDOW_S]
        self.returns[name] = recent
        looping = len(recent) >= config.restart_count > 0
        said = f"{name} came back {len(recent)} time(s) in the last 15 minutes"
        return Result(f"restarts:{name}", BAD if looping else OK, said)


def scrape(url: str, host: str, now: float) -> metrics.Sample | None:
    """The request totals one address answers; None when it does not answer them."""
    try:
        status, body = http_get(url, host=host)
    except (OSError, ValueError):
        return None
    return metrics.parse(body.decode("utf-8", "replace"), now) if status == 200 else None


class Traffic:
    """5xx share and p95 of each service whose /metrics answers, over the last 5 minutes.

    A swarm runs a service's replicas behind one name (endpoint_mode dnsrr): scraping the name
    would reach a different replica each time, whose counters are its own, and the window would
    see them go back and start again. So every address the name resolves to is scraped, with a
    window of its own (a restart resets that replica's only), and the figures are their sum over
    the replicas that answer. Compose's one container is the case of one address."""

    def __init__(self) -> None:
        self.windows: dict[tuple[str, str], metrics.Window] = {}  # (service, address) -> window

    def check(self, config: Config, name: str, url: str, now: float) -> Iterator[Result]:
        try:
            addresses = replicas(url)
        except OSError:  # no replica runs (a swarm's name then resolves to none): keep the windows
            addresses = {}
        else:  # a replica replaced (a new task, a new address): its window would only grow stale
            for gone in [k for k in self.windows if k[0] == name and k[1] not in addresses]:
                del self.windows[gone]
        host = urllib.parse.urlsplit(url).netloc
        answered = []
        for address, address_url in addresses.items():
            sample = scrape(address_url, host, now)
            if sample is not None:
                window = self.windows.setdefault((name, address), metrics.Window())
                window.add(sample)
                answered.append(window)
        if not answered:
            said = f"no request metrics at {url}"
            yield Result(f"errors:{name}", UNKNOWN, f"{name} 5xx rate: {said}")
            yield Result(f"latency:{name}", UNKNOWN, f"{name} p95 latency: {said}")
            return
        of = f" ({len(answered)} of {len(addresses)} replicas)" if len(addresses) > 1 else ""
        figures = metrics.combined(answered)
        if figures is None or figures[0] < config.error_min_requests:
            few = f"under {config.error_min_requests:g} requests in 5 minutes, too few to judge"
            said = few + of
            yield Result(f"errors:{name}", OK, f"{name} 5xx rate: {said}")
            yield Result(f"latency:{name}", OK, f"{name} p95 latency: {said}")
            return
        requests, share, p95 = figures
        bad = share >= config.error_percent
        said = f"{name}: {share:.1f} % of {requests:.0f} requests answered 5xx in 5 minutes{of}"
        yield Result(f"errors:{name}", BAD if bad else OK, said)
        if p95 is None:
            yield Result(f"latency:{name}", UNKNOWN, f"{name}: no latency histogram")
        else:
            slow = p95 >= config.p95_ms
            said = f"{name}: p95 latency {p95:.0f} ms over 5 minutes{of}"
            yield Result(f"latency:{name}", BAD if slow else OK, said)


# Names the backup service may give its times (ISO 8601 or seconds since the epoch): the
# backup service's status.json has base_backup_at, files_snapshot_at and drill.finished_at.
BACKUP_KEYS = ("base_backup_at", "last_success", "last_backup", "last_backup_at", "finished_at")
DRILL_KEYS = ("drill", "last_drill", "last_drill_at", "last_restore_drill")
STATUS_STALE_S = 900


def moment(value: object) -> dt.datetime | None:
    if isinstance(value, dict):  # {"finished_at": …} or {"at": …}
        value = value.get("finished_at") or value.get("at") or value.get("time")
    if isinstance(value, int | float):
        return dt.datetime.fromtimestamp(value, dt.UTC)
    if isinstance(value, str) and value:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
    return None


def backups(config: Config) -> Iterator[Result]:
    """From the backup service's status file: its own verdict (`ok`, `problems`: each sentence
    names a cause and a fix), the age of the last backup, the last restore drill."""
    path = Path(config.backup_status) if config.backup_status else None
    if path is None or not path.is_file():
        yield Result("backup", UNKNOWN, "backup: not configured (no backup status file)")
        return
    now = dt.datetime.now(dt.UTC)
    try:
        status = json.loads(path.read_text())
        last = next((moment(status[k]) for k in BACKUP_KEYS if status.get(k)), None)
        drill = next((status[k] for k in DRILL_KEYS if status.get(k)), None)
        checked = moment(status.get("checked_at"))
        drill_at = moment(drill)
    except (OSError, ValueError, TypeError, AttributeError) as error:
        yield Result("backup", BAD, f"backup: its status file is unreadable ({describe(error)})")
        return
    if checked and (now - checked).total_seconds() > STATUS_STALE_S:
        yield Result("backup", BAD, f"backup: its status is from {checked:%Y-%m-%d %H:%M} UTC")
    elif status.get("ok") is False:
        said = "; ".join(str(p) for p in status.get("problems") or ["the backup reports a problem"])
        yield Result("backup", BAD, f"backup: {said}")
    else:
        yield age_result("backup", "last backup", last, now, config.backup_hours * 3600)
    if config.drill_days <= 0:
        return
    if drill is None:
        yield Result("drill", UNKNOWN, "restore drill: none yet")
    elif isinstance(drill, dict) and drill.get("result") not in (None, "passed"):
        yield Result("drill", BAD, f"restore drill {drill.get('result')}: {drill.get('detail')}")
    else:
        yield age_result("drill", "last restore drill", drill_at, now, config.drill_days * 86400)


def age_result(key: str, what: str, when: dt.datetime | None, now: dt.datetime, limit: float):
    if when is None:
        return Result(key, BAD, f"{what}: never")
    hours = (now - when).total_seconds() / 3600
    state = BAD if hours * 3600 > limit else OK
    return Result(key, state, f"{what}: {hours:.1f} hours ago ({when:%Y-%m-%d %H:%M} UTC)")
