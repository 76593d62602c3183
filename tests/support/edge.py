"""The edge nginx rendered from the generated templates, on loopback with its own prefix.

Used by test_edge.py (routing, headers, limits against stub upstreams) and test_tls.py (ACME
issuance and renewal against Pebble). The templates are rendered as the official nginx image does
(`envsubst` replaces `${VAR}`/`$VAR` only for variables defined in the environment), by the
generated native runner's own code (write_nginx_prefix), so the tests run what users run.
"""

from __future__ import annotations

import json
import shutil
import ssl
import subprocess
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
from stack.nginx import write_nginx_prefix

from support.ports import free_port, wait_for_port
from support.project import read_env

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def make_test_ca(directory: Path, names: list[str]) -> tuple[Path, Path, Path]:
    """A throwaway CA and a leaf for `names`; returns (ca certificate, leaf chain, leaf key)."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, ca_crt = directory / "ca.key", directory / "ca.crt"
    key, csr, crt = directory / "leaf.key", directory / "leaf.csr", directory / "leaf.crt"
    ext = directory / "leaf.ext"
    kinds = [f"IP:{n}" if n.replace(".", "").isdigit() else f"DNS:{n}" for n in names]
    ext.write_text("subjectAltName=" + ",".join(kinds) + "\n")

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    openssl(
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=closo edge test CA",
        "-keyout",
        str(ca_key),
        "-out",
        str(ca_crt),
    )
    openssl(
        "req",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-subj",
        f"/CN={names[0]}",
        "-keyout",
        str(key),
        "-out",
        str(csr),
    )
    openssl(
        "x509",
        "-req",
        "-in",
        str(csr),
        "-CA",
        str(ca_crt),
        "-CAkey",
        str(ca_key),
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        str(ext),
        "-out",
        str(crt),
    )
    return ca_crt, crt, key


@dataclass
class Edge:
    """An edge nginx started from a generated project's nginx/templates."""

    prefix: Path
    env: dict[str, str]
    http_port: int
    https_port: int
    ca_file: Path | None = None
    process: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def domain(self) -> str:
        return self.env["DOMAIN"]

    @property
    def nginx_args(self) -> list[str]:
        return [
            "-p",
            str(self.prefix),
            "-c",
            str(self.prefix / "nginx.conf"),
            "-e",
            str(self.prefix / "logs" / "error.log"),
        ]

    def check(self) -> subprocess.CompletedProcess[str]:
        return subprocess.run([NGINX, *self.nginx_args, "-t"], capture_output=True, text=True)

    def start(self) -> None:
        checked = self.check()
        assert checked.returncode == 0, checked.stderr
        self.process = subprocess.Popen([NGINX, *self.nginx_args])  # daemon off in nginx.conf
        wait_for_port(self.https_port)

    def reload(self) -> None:
        subprocess.run([NGINX, *self.nginx_args, "-s", "reload"], check=True)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)

    def error_log(self) -> str:
        return (self.prefix / "logs" / "error.log").read_text()

    def client(self, host: str | None = None, **kwargs: object) -> httpx.Client:
        """An HTTPS client to this edge that sends `host` as SNI and Host (no DNS involved)."""
        host = host or self.domain
        verify = ssl.create_default_context(cafile=str(self.ca_file)) if self.ca_file else False
        return httpx.Client(
            base_url=f"https://127.0.0.1:{self.https_port}",
            headers={"Host": f"{host}:{self.https_port}"},
            verify=verify,
            timeout=10,
            **kwargs,
        )

    def request(
        self, method: str, path: str, host: str | None = None, **kwargs: object
    ) -> httpx.Response:
        host = host or self.domain
        with self.client(host) as client:
            return client.request(method, path, extensions={"sni_hostname": host}, **kwargs)

    def http_request(
        self, method: str, path: str, host: str | None = None, **kwargs: object
    ) -> httpx.Response:
        """A plain-HTTP request to port 80's equivalent."""
        host = host or self.domain
        return httpx.request(
            method,
            f"http://127.0.0.1:{self.http_port}{path}",
            headers={"Host": host},
            timeout=10,
            **kwargs,
        )


def start_edge(
    project: Path, prefix: Path, overrides: dict[str, str], ca_file: Path | None = None
) -> Edge:
    """Render `project`'s edge templates with the generated .env plus `overrides`, start nginx."""
    http_port, https_port = free_port(), free_port()
    # What compose passes to the nginx container: the settings, then the secrets.
    env = {}
    for name in ("settings.env", ".env"):
        if (project / name).is_file():
            env.update(read_env(project / name))
    env.update(
        {
            "HTTP_LISTEN": f"127.0.0.1:{http_port}",
            "HTTPS_LISTEN": f"127.0.0.1:{https_port}",
            "HTTPS_PORT_SUFFIX": f":{https_port}",
            "SERVER_ALIASES": env.get("DOMAIN_ALIASES") or "_",
        }
    )
    env.update(overrides)
    slug_dirs = [p for p in project.iterdir() if (p / "nginx" / "templates").is_dir()]
    assert len(slug_dirs) == 1, f"no single <slug>/nginx/templates in {project}"
    write_nginx_prefix(prefix, slug_dirs[0] / "nginx" / "templates", env)
    edge = Edge(prefix=prefix, env=env, http_port=http_port, https_port=https_port, ca_file=ca_file)
    edge.start()
    return edge


# --- Stub upstreams: tiny HTTP servers standing in for frontend, backend and storage --------------


class StubHandler(BaseHTTPRequestHandler):
    """Answers as the service named by the server's `role`; records what reached it."""

    protocol_version = "HTTP/1.1"
    server: StubServer

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        pass

    def _reply(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body_size = 0
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                self.rfile.read(size + 2)
                body_size += size
                if size == 0:
                    break
        else:
            while length > 0:
                chunk = self.rfile.read(min(length, 1 << 16))
                body_size += len(chunk)
                length -= len(chunk)
        seen = {
            "role": self.server.role,
            "method": self.command,
            "path": self.path,
            "headers": dict(self.headers.items()),
            "body_size": body_size,
        }
        self.server.seen.append(seen)
        role = self.server.role
        if role == "storage" and self.path.startswith("/storage/files/"):
            name = self.path.rsplit("/", 1)[-1]
            self._reply(
                200,
                b"",
                {
                    "X-Accel-Redirect": f"/_storage_internal/{name[:2]}/{name[2:4]}/{name}",
                    "Content-Type": "text/html",
                    "Content-Disposition": f'attachment; filename="{name}"',
                    "Cache-Control": "private, max-age=3600",
                    "X-Upstream-Only": "dropped on internal redirect",
                },
            )
        elif role == "backend" and self.path == "/api/try-accel":
            self._reply(
                200,
                b'{"ok": true}',
                {"Content-Type": "application/json", "X-Accel-Redirect": "/_storage_internal/x"},
            )
        else:
            payload = json.dumps(seen).encode() + b" " * 512  # long enough for gzip
            self._reply(
                200,
                payload,
                {
                    "Content-Type": "application/json",
                    "X-Frame-Options": "SAMEORIGIN",
                    "X-Stub-Role": role,
                },
            )

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = _handle  # noqa: N815


class StubServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, role: str) -> None:
        super().__init__(("127.0.0.1", 0), StubHandler)
        self.role = role
        self.seen: list[dict] = []
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}"
