"""A second nginx that serves the storage volume as plain static files: the physical limit of
the download path. It includes the edge's own rendered TLS settings (protocols, ciphers, session
cache, certificate) and runs with the same main settings as the runner's edge (one worker,
sendfile, tcp_nopush, access log), so the only difference is what happens before the bytes flow:
the edge asks storage, which answers X-Accel-Redirect; this one opens the file directly.
"""

from __future__ import annotations

import grp
import os
import pwd
import subprocess
from pathlib import Path

from support.ports import free_port, wait_for_port
from support.waiting import wait_for

CONF = """\
{user}
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log {prefix}/access.log;
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 65;
    client_body_temp_path {prefix}/temp/client_body;
    proxy_temp_path {prefix}/temp/proxy;
    fastcgi_temp_path {prefix}/temp/fastcgi;
    uwsgi_temp_path {prefix}/temp/uwsgi;
    scgi_temp_path {prefix}/temp/scgi;
    include conf.d/edge-http.conf;
    server {{
        listen 127.0.0.1:{port} ssl http2;
        server_name localhost;
        include conf.d/snippets/tls-certificate.conf;
        location /static/ {{
            alias {volume}/;
            gzip off;
        }}
    }}
}}
"""


class StaticNginx:
    """`with StaticNginx(prefix, edge_conf_dir, volume) as static:` → `static.url`, `.port`."""

    def __init__(self, prefix: Path, edge_conf_dir: Path, volume: Path):
        self.prefix, self.edge_conf_dir, self.volume = prefix, edge_conf_dir, volume
        self.port = free_port()
        self.url = f"https://localhost:{self.port}/static"
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> StaticNginx:
        (self.prefix / "temp").mkdir(parents=True, exist_ok=True)
        # Relative includes resolve against the folder of nginx.conf: give it the edge's conf.d.
        (self.prefix / "conf.d").symlink_to(self.edge_conf_dir)
        conf = self.prefix / "nginx.conf"
        user = ""
        if os.geteuid() == 0:  # as the runner does: workers as nobody, never as root
            nobody = pwd.getpwnam("nobody")
            user = f"user nobody {grp.getgrgid(nobody.pw_gid).gr_name};"
        conf.write_text(
            CONF.format(user=user, prefix=self.prefix, port=self.port, volume=self.volume)
        )
        error_log = str(self.prefix / "error.log")
        args = ["nginx", "-p", str(self.prefix), "-c", str(conf), "-e", error_log]
        subprocess.run([*args, "-t", "-q"], check=True, capture_output=True)
        self.process = subprocess.Popen([*args, "-g", "daemon off;"])

        def started() -> bool:
            if self.process.poll() is not None:
                raise RuntimeError(f"static nginx exited: see {self.prefix / 'error.log'}")
            return (self.prefix / "nginx.pid").is_file()

        wait_for(started, 10, interval=0.02, what=f"static nginx: see {self.prefix / 'error.log'}")
        try:  # the pid file is written once the port listens; checked, as curl needs it
            wait_for_port(self.port, process=self.process)
        except AssertionError as error:
            raise RuntimeError(f"static nginx: {error}; its log: {self.log_tail()}") from error
        return self

    def log_tail(self) -> str:
        path = self.prefix / "error.log"
        return path.read_text(errors="replace")[-2000:] if path.is_file() else "(none)"

    def __exit__(self, *_: object) -> None:
        if self.process is not None:
            self.process.terminate()  # SIGTERM: fast shutdown
            self.process.wait(timeout=10)
