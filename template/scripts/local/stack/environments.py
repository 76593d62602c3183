"""What each native service is given: compose's settings and secrets, with the hosts, ports and
folders of this machine instead of Docker's (the only variables the runner overrides)."""

from __future__ import annotations

import os

from .config import Project
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
        }
    )
    return env


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
