"""What each native service is given: compose's settings and secrets, with the hosts, ports and
folders of this machine instead of Docker's (the only variables the runner overrides)."""

from __future__ import annotations

import os
import time

from .config import Project, settings_file
from .state import State


def python_service_env(project: Project, state: State) -> dict[str, str]:
    """The backend's and the storage's environment."""
    ports = state.ports
    env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "TZ") if k in os.environ}
    env.update(project.settings)
    env.update(
        {
            "POSTGRES_HOST": "127.0.0.1",
            "POSTGRES_PORT": str(ports["postgres"]),
            "STORAGE_URL": f"http://127.0.0.1:{ports['storage']}",
            "STORAGE_DIR": str(state.path("storage_data")),
            "PYTHONUNBUFFERED": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
            "MAILER_HEARTBEAT_FILE": str(state.path("run", "mailer.heartbeat")),
        }
    )
    if "https" in ports and not project.settings.get("SITE_URL"):
        env["SITE_URL"] = f"https://{state.server_name}:{ports['https']}"  # links in mails
    if uses_catcher(project) and "smtp" in ports:
        domain = project.settings.get("DOMAIN") or "localhost"
        env.update(
            SMTP_HOST="127.0.0.1",
            SMTP_PORT=str(ports["smtp"]),
            SMTP_SECURITY="none",
            SMTP_USER="",
            MAIL_FROM=project.settings.get("MAIL_FROM") or f"noreply@{domain}",
        )
    return env


def uses_catcher(project: Project) -> bool:
    """A local stack (ENVIRONMENT=local) without an SMTP server of its own sends to the catcher."""
    settings = project.settings
    return settings.get("ENVIRONMENT") == "local" and not settings.get("SMTP_HOST")


def mailer_alive(state: State) -> bool:
    """The mailer beats its file at least every 10 s (app/mailer.py)."""
    try:
        return time.time() - state.path("run", "mailer.heartbeat").stat().st_mtime < 90
    except FileNotFoundError:
        return False


def nginx_env(project: Project, state: State) -> dict[str, str]:
    """The variables of both nginx's templates (the edge's and the frontend's)."""
    ports, tls = state.ports, state.data["tls"]
    server_name = state.server_name
    env = dict(project.settings)
    env.update(
        {
            "DOMAIN": server_name,
            "SERVER_ALIASES": "_",
            # HSTS pins a name to HTTPS in the browser for as long as max-age says: never for
            # localhost, whose other ports may serve plain HTTP.
            **({"HSTS_MAX_AGE": "0"} if server_name == "localhost" else {}),
            "HTTP_LISTEN": f"127.0.0.1:{ports['http']}",
            "HTTPS_LISTEN": f"127.0.0.1:{ports['https']}",
            "HTTPS_PORT_SUFFIX": f":{ports['https']}",
            "BACKEND_UPSTREAM": f"127.0.0.1:{ports['backend']}",
            "STORAGE_UPSTREAM": f"127.0.0.1:{ports['storage']}",
            "FRONTEND_UPSTREAM": f"127.0.0.1:{ports['frontend']}",
            "TLS_CERTIFICATE": tls["certificate"],
            "TLS_CERTIFICATE_KEY": tls["key"],
            "ACME_WEBROOT": str(state.path("acme-webroot")),
            "STORAGE_DATA_DIR": str(state.path("storage_data")),
            "FRONTEND_LISTEN": f"127.0.0.1:{ports['frontend']}",
            "FRONTEND_ROOT": str(project.services_dir / "frontend" / "public"),
        }
    )
    return env


def watcher_env(project: Project, state: State) -> dict[str, str]:
    """The watcher's: the settings without .env's secrets (it needs none), and this machine's
    addresses of what compose.yaml points it at. WATCH_DISKS of the settings (e.g. in
    settings.local.env) adds volumes to the stack's own."""
    ports, secrets = state.ports, settings_file(project.root / ".env")
    env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "TZ") if k in os.environ}
    env.update({k: v for k, v in project.settings.items() if k not in secrets})
    env.update(
        {
            "DOMAIN": state.server_name,
            "WATCH_HEALTH": (
                f"backend=http://127.0.0.1:{ports['backend']}/api/health/ready "
                f"storage=http://127.0.0.1:{ports['storage']}/storage/health "
                f"frontend=http://127.0.0.1:{ports['frontend']}/"
            ),
            "WATCH_EDGE": f"https://127.0.0.1:{ports['https']}/api/health",
            "WATCH_METRICS": (
                f"backend=http://127.0.0.1:{ports['backend']}/metrics "
                f"storage=http://127.0.0.1:{ports['storage']}/metrics"
            ),
            "WATCH_DISKS": (
                f"storage_data={state.path('storage_data')} "
                f"postgres_data={state.path('postgres', 'data')} "
                f"watcher_state={state.path('watcher')} {project.settings.get('WATCH_DISKS', '')}"
            ),
            "WATCH_STATE_FILE": str(state.path("watcher", "state.json")),
            "WATCH_BACKUP_STATUS": str(state.path("backup", "status.json")),
            "PYTHONUNBUFFERED": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
    )
    return env
