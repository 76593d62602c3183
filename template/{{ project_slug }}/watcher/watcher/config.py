"""The watcher's settings: settings.env's thresholds and targets, compose's wiring (where each
service answers inside the stack). Every value has a default, so a missing line never stops it."""

from __future__ import annotations

import os
from dataclasses import dataclass

from .errors import ConfigError

FORMATS = ("json", "ntfy", "slack", "discord")


def pairs(text: str) -> dict[str, str]:
    """`name=value name=value` (spaces or newlines between pairs), as compose passes lists."""
    found = {}
    for item in text.split():
        name, sep, value = item.partition("=")
        if not sep or not name or not value:
            raise ConfigError(f"'{item}' is not NAME=VALUE")
        found[name] = value
    return found


def urls(found: dict[str, str], setting: str) -> dict[str, str]:
    for url in found.values():
        web_url(url, setting)
    return found


def web_url(url: str, setting: str) -> str:
    """Only http(s): a file: or ftp: URL in a setting would make the watcher read or call
    something else than a web service."""
    if url and not url.startswith(("http://", "https://")):
        raise ConfigError(f"{setting}: {url} is not an http:// or https:// URL")
    return url


def number(env: dict[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw} is not a number: set it in settings.site.env") from None
    if value < 0:
        raise ConfigError(f"{name}={raw} is negative: set it in settings.site.env")
    return value


@dataclass(frozen=True)
class Config:
    site: str
    interval: float
    start_grace: float  # seconds after the watcher starts in which nothing is judged bad
    state_file: str
    health: dict[str, str]  # service -> URL answering 2xx when it is well
    edge: str  # https://host:port/path of the edge, reached with the site's name (SNI, Host)
    # Behind the server's shared edge, the site's nginx takes connections that start with a PROXY
    # protocol header only (the shared edge names the client in it): the watcher sends one too.
    edge_proxy_protocol: bool
    metrics: dict[str, str]  # service -> its Prometheus /metrics URL
    disks: dict[str, str]  # volume -> folder where it is mounted (read-only)
    backup_status: str
    cert_days: float
    disk_percent: float
    memory_percent: float
    error_percent: float
    error_min_requests: float
    p95_ms: float
    backup_hours: float
    drill_days: float
    restart_count: float
    remind_hours: float
    webhook_url: str
    webhook_format: str


def load(env: dict[str, str] | None = None) -> Config:
    env = dict(os.environ if env is None else env)
    webhook_format = env.get("ALERT_WEBHOOK_FORMAT", "").strip().lower() or "json"
    if webhook_format not in FORMATS:
        raise ConfigError(
            f"ALERT_WEBHOOK_FORMAT={webhook_format} is not one of {', '.join(FORMATS)} "
            "(Mattermost accepts slack): set it in settings.site.env"
        )
    interval = max(number(env, "WATCH_INTERVAL_SECONDS", 60), 1)
    return Config(
        site=env.get("DOMAIN", "").strip() or "localhost",
        interval=interval,
        # A deploy starts the watcher with the services it checks (a swarm starts them all at
        # once): what does not answer yet is starting, not an incident to alert on.
        start_grace=number(env, "WATCH_START_GRACE_SECONDS", 2 * interval),
        state_file=env.get("WATCH_STATE_FILE", "/var/lib/watcher/state.json"),
        health=urls(pairs(env.get("WATCH_HEALTH", "")), "WATCH_HEALTH"),
        edge=web_url(env.get("WATCH_EDGE", "").strip(), "WATCH_EDGE"),
        edge_proxy_protocol=env.get("WATCH_EDGE_PROXY_PROTOCOL", "").strip() == "1",
        metrics=urls(pairs(env.get("WATCH_METRICS", "")), "WATCH_METRICS"),
        disks=pairs(env.get("WATCH_DISKS", "")),
        backup_status=env.get("WATCH_BACKUP_STATUS", "").strip(),
        cert_days=number(env, "CERT_ALERT_DAYS", 14),
        disk_percent=number(env, "DISK_ALERT_PERCENT", 10),
        memory_percent=number(env, "MEMORY_ALERT_PERCENT", 10),
        error_percent=number(env, "ERROR_RATE_ALERT_PERCENT", 5),
        error_min_requests=number(env, "ERROR_RATE_MIN_REQUESTS", 20),
        p95_ms=number(env, "LATENCY_P95_ALERT_MS", 2000),
        backup_hours=number(env, "BACKUP_ALERT_HOURS", 26),
        drill_days=number(env, "DRILL_ALERT_DAYS", 35),
        restart_count=number(env, "RESTART_ALERT_COUNT", 3),
        remind_hours=number(env, "ALERT_REMIND_HOURS", 6),
        webhook_url=web_url(
            env.get("ALERT_WEBHOOK_URL", "").strip(), "ALERT_WEBHOOK_URL in settings.site.env"
        ),
        webhook_format=webhook_format,
    )
