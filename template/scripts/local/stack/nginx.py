"""nginx as the official image runs it: the same templates rendered by envsubst, local paths."""

from __future__ import annotations

import grp
import os
import pwd
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path

from .errors import StackError
from .probes import http_ok
from .processes import pid_alive, spawn, stop_pid, wait_until
from .state import IS_ROOT, State


def find_nginx() -> str:
    if os.environ.get("NGINX_BIN"):
        candidates = [os.environ["NGINX_BIN"]]
    else:
        candidates = [shutil.which("nginx") or "", "/usr/sbin/nginx", "/usr/local/sbin/nginx"]
    nginx = next((p for p in candidates if p and os.access(p, os.X_OK)), None)
    if not nginx:
        raise StackError(
            "nginx not found: install it (Debian/Ubuntu: `sudo apt-get install nginx-light`), "
            "put it on PATH or set NGINX_BIN."
        )
    return nginx


def envsubst(text: str, env: dict[str, str]) -> str:
    """Replace ${VAR} and $VAR for variables defined in env, as the nginx image's envsubst does."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        return env[name] if name in env else match.group(0)

    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)", replace, text)


def render_templates(src: Path, dest: Path, env: dict[str, str]) -> None:
    """Render src/**/*.template into dest/ (suffix dropped, folders kept); fail on unset ${VAR}."""
    if dest.exists():
        shutil.rmtree(dest)
    for template in sorted(src.rglob("*.template")):
        rendered = envsubst(template.read_text(), env)
        directives = "\n".join(
            line for line in rendered.splitlines() if not line.lstrip().startswith("#")
        )
        missing = sorted(set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)\}", directives)))
        if missing:
            raise StackError(f"{template}: variables not set: {', '.join(missing)}")
        target = dest / template.relative_to(src).with_suffix("")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(rendered)


def system_resolver() -> str:
    """The first name server of /etc/resolv.conf, for nginx's `resolver` (S3 downloads look the
    store's host up at request time, as Docker's DNS does it in compose)."""
    try:
        lines = Path("/etc/resolv.conf").read_text().splitlines()
    except OSError:
        lines = []
    for line in lines:
        fields = line.split()
        if len(fields) >= 2 and fields[0] == "nameserver":
            address = fields[1].split("%")[0]
            return f"[{address}]" if ":" in address else address
    return "127.0.0.53"  # systemd-resolved's stub, the usual one when resolv.conf says nothing


@cache
def nginx_version() -> tuple[int, ...]:
    version = subprocess.run([find_nginx(), "-v"], capture_output=True, text=True).stderr
    match = re.search(r"nginx/(\d+)\.(\d+)\.(\d+)", version)
    return tuple(map(int, match.groups())) if match else (0, 0, 0)


def local_nginx_settings(env: dict[str, str]) -> dict[str, str]:
    """What differs between the image's nginx and this machine's, unless `env` already says.

    HTTP/2: the `http2` directive from nginx 1.25.1 on (the image's 1.28 warns at every start about
    the old form), the `listen ... http2` flag before (Debian 12 has 1.22, which knows no
    directive). UPSTREAM_RESOLVE: empty, the upstreams here are IP literals (the image follows
    Docker's names with `resolve`, which nginx knows from 1.27.3 on). S3_RESOLVER: the system's
    name server instead of Docker's."""
    settings = {}
    if "S3_RESOLVER" not in env:
        settings["S3_RESOLVER"] = system_resolver()
    if "UPSTREAM_RESOLVE" not in env:
        settings["UPSTREAM_RESOLVE"] = ""
    if "HTTP2_DIRECTIVE" not in env:
        if nginx_version() >= (1, 25, 1):
            settings["HTTP2_DIRECTIVE"] = "http2 on;"
        else:
            settings["HTTP2_DIRECTIVE"] = ""
            settings["HTTPS_LISTEN"] = env.get("HTTPS_LISTEN", "") + " http2"
    return settings


def find_mime_types() -> str:
    for path in ("/etc/nginx/mime.types", "/usr/local/nginx/conf/mime.types"):
        if Path(path).is_file():
            return path
    raise StackError(
        "nginx mime.types not found (expected /etc/nginx/mime.types): reinstall "
        "nginx (Debian/Ubuntu: `sudo apt-get install nginx-common`)."
    )


def write_nginx_prefix(prefix: Path, templates: Path, env: dict[str, str]) -> None:
    """An nginx prefix as the official image has it: templates rendered into conf.d/ and a main
    nginx.conf like the image's (mime types, sendfile, conf.d/*.conf in http), with every path
    (pid, logs, temp files) inside the prefix. Run it with `nginx -p PREFIX -c PREFIX/nginx.conf`.
    """
    # The edge's access log and status socket live in its prefix (compose: a volume, a port).
    local_paths = {
        "EDGE_ACCESS_LOG": str(prefix / "logs" / "access.log"),
        "EDGE_STATUS_LISTEN": f"unix:{prefix / 'status.sock'}",
    }
    render_templates(
        templates, prefix / "conf.d", {**local_paths, **env, **local_nginx_settings(env)}
    )
    for sub in ("logs", "temp"):
        (prefix / sub).mkdir(parents=True, exist_ok=True)
    user = ""
    if IS_ROOT:  # workers drop to nobody, as they would to nginx in the image
        nobody = pwd.getpwnam("nobody")
        user = f"user nobody {grp.getgrgid(nobody.pw_gid).gr_name};"
    temp_paths = "\n".join(
        f"    {kind}_temp_path {prefix}/temp/{kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    (prefix / "nginx.conf").write_text(
        f"""# Generated by scripts/local/stack.py: the nginx image's nginx.conf, local paths.
{user}
worker_processes 1;
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/logs/error.log notice;
events {{ worker_connections 1024; }}
http {{
    include {find_mime_types()};
    default_type application/octet-stream;
    access_log {prefix}/logs/access.log;
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 65;
{temp_paths}
    include conf.d/*.conf;
}}
"""
    )


def start_nginx(
    state: State, name: str, templates: Path, env: dict[str, str], health_url: str,
    server_name: str | None = None,
) -> None:  # fmt: skip
    """nginx `name` with its prefix in the state dir, unless it already answers health_url."""
    if pid_alive(state.pids.get(name)) and http_ok(health_url, server_name):
        return
    stop_pid(state.pids.get(name))
    prefix = state.path(name)
    write_nginx_prefix(prefix, templates, env)
    error_log = prefix / "logs" / "error.log"
    args = [find_nginx(), "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-e", str(error_log)]
    check = subprocess.run([*args, "-t", "-q"], capture_output=True, text=True)
    if check.returncode != 0:
        raise StackError(f"nginx ({name}) rejects its configuration:\n{check.stderr.strip()}")
    pid = spawn(state, name, args, prefix, {"PATH": os.environ.get("PATH", "")})
    wait_until(lambda: http_ok(health_url, server_name), f"nginx ({name})", error_log, pid)
