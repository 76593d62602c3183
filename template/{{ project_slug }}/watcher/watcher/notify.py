"""Where alerts go: ALERT_WEBHOOK_URL, in the shape ALERT_WEBHOOK_FORMAT names.

json (the watcher's own shape, documented in docs/deployment.md):
    {"event": "alert" | "recovery" | "reminder", "site": DOMAIN, "check": "health:storage",
     "summary": "storage does not answer (…)", "since": ISO 8601, "time": ISO 8601}
ntfy: the text as the body, Title/Priority/Tags headers. slack (Mattermost too): {"text": …}.
discord: {"content": …}."""

from __future__ import annotations

import json
import urllib.request
from dataclasses import asdict, dataclass

from .config import Config

TIMEOUT_S = 10
ICONS = {"alert": "🔴", "reminder": "🟠", "recovery": "✅"}
WORDS = {"alert": "ALERT", "reminder": "STILL BAD", "recovery": "RECOVERED"}


@dataclass(frozen=True)
class Event:
    event: str
    site: str
    check: str
    summary: str
    since: str
    time: str

    @property
    def text(self) -> str:
        return f"{ICONS[self.event]} {WORDS[self.event]} {self.site}: {self.summary}"


def request_for(config: Config, event: Event) -> urllib.request.Request:
    headers = {"Content-Type": "application/json", "User-Agent": "watcher"}
    if config.webhook_format == "ntfy":
        headers = {
            "Content-Type": "text/plain; charset=utf-8",
            "Title": f"{config.site}: {WORDS[event.event]}",  # a domain: ASCII
            "Priority": "high" if event.event == "alert" else "default",
            "Tags": {"alert": "rotating_light", "reminder": "warning"}.get(
                event.event, "white_check_mark"
            ),
        }
        body = event.text.encode()
    elif config.webhook_format == "slack":
        body = json.dumps({"text": event.text}).encode()
    elif config.webhook_format == "discord":
        body = json.dumps({"content": event.text}).encode()
    else:
        body = json.dumps(asdict(event)).encode()
    # config.py accepts only http(s) URLs.
    return urllib.request.Request(  # noqa: S310
        config.webhook_url, data=body, headers=headers, method="POST"
    )


def send(config: Config, event: Event) -> str | None:
    """Deliver to every target configured; the error if one failed (the event is sent again at
    the next round), None when delivered or when there is no target (the state file keeps it)."""
    print(json.dumps({"msg": "watcher event", **asdict(event)}), flush=True)
    if not config.webhook_url:
        return None
    try:
        with urllib.request.urlopen(request_for(config, event), timeout=TIMEOUT_S) as answer:  # noqa: S310
            answer.read()
    except (OSError, ValueError) as error:
        return f"webhook {config.webhook_format}: {getattr(error, 'reason', error)}"
    return None
