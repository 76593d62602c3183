"""A server to deploy to: sshd with a deploy account on the tests' Docker engine, and Pebble as
its ACME server, for the deploy layer and the production benchmark.

The deployment folder starts with a compose.override.yaml, the way an operator makes site-specific
changes that the deploy scripts never overwrite: certbot asks Pebble (which it reaches at the
stack network's gateway, trusting Pebble's listener CA) and nginx's certificate watcher looks every
second. Pebble validates HTTP-01 for real on port 80, which the containerised edge publishes.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

from edge_fixtures import make_test_ca

from support.docker.engine import Engine
from support.pebble import start_pebble, stop_process
from support.sshd import SshServer, ssh_server

# compose.yaml's default subnet is 172.30.57.0/24: its gateway is where containers reach this host.
GATEWAY = "172.30.57.1"


@contextlib.contextmanager
def server_with_acme(base: Path, engine: Engine) -> Iterator[tuple[SshServer, Path]]:
    """Yields the server and Pebble's root certificate (what browsers would trust)."""
    listener = make_test_ca(base / "pebble-tls", ["localhost", "127.0.0.1", GATEWAY])
    root = base / "pebble-root.pem"
    processes: list[subprocess.Popen] = []
    try:
        # All addresses: certbot's container reaches Pebble at the stack network's gateway, an
        # address that exists only once deploy_bdd has made the network.
        any_address = "0.0.0.0"  # noqa: S104
        acme_url = start_pebble(base, 80, listener, root, processes, listen_host=any_address)
        with ssh_server(base / "sshd", engine) as server:
            server.remote_dir.mkdir(parents=True)
            (server.remote_dir / "compose.override.yaml").write_text(
                "# Site-specific: certbot asks the test ACME server, nginx checks often.\n"
                "services:\n"
                "  certbot:\n"
                "    environment:\n"
                f"      ACME_SERVER: {acme_url.replace('localhost', GATEWAY)}\n"
                "      REQUESTS_CA_BUNDLE: /etc/ssl/acme-server-ca.pem\n"
                "    volumes:\n"
                f"      - {listener[0]}:/etc/ssl/acme-server-ca.pem:ro\n"
                "  nginx:\n"
                "    environment:\n"
                '      CERTIFICATE_CHECK_SECONDS: "1"\n'
            )
            for folder in (server.home / "srv", server.remote_dir):
                shutil.chown(folder, server.user, server.user)
            try:
                yield server, root
            finally:
                engine.compose(
                    server.remote_dir, "down", "--volumes", "--timeout", "30", check=False
                )
    finally:
        for process in reversed(processes):
            stop_process(process)
