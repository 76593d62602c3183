"""Pebble, Let's Encrypt's test ACME server, with pebble-challtestsrv as its DNS (Debian's pebble).

Validation is real: Pebble resolves every name to 127.0.0.1 through challtestsrv and fetches the
HTTP-01 token from the edge's port. The caller stops the processes
(support.processes.stop_process), pass or fail.
"""

from __future__ import annotations

import json
import ssl
import subprocess
from pathlib import Path

import httpx

from support.ports import free_port, wait_for_port
from support.processes import start_process


def start_pebble(
    base: Path,
    http_port: int,
    listener: tuple[Path, Path, Path],
    root: Path,
    processes: list[subprocess.Popen],
    listen_host: str = "127.0.0.1",
    site_address: str = "127.0.0.1",
) -> str:
    """Start pebble-challtestsrv (DNS: every name is 127.0.0.1) and Pebble validating HTTP-01 on
    http_port; write Pebble's root CA to `root`; return the ACME directory URL.

    Pebble's API listens on `listen_host` (0.0.0.0 for clients in containers, which reach it at
    their network's gateway address: `listener` must name that address). Every name resolves to
    `site_address` (where the edge answers HTTP-01 on http_port).

    `listener` is (CA, certificate, key) of Pebble's own HTTPS listener (make_test_ca)."""
    listener_ca, listener_cert, listener_key = listener
    dns_port, dns_mgmt_port, acme_port, mgmt_port = (free_port() for _ in range(4))
    processes.append(
        start_process(
            [
                "pebble-challtestsrv",
                "-dns01",
                f"127.0.0.1:{dns_port}",
                "-http01",
                "",
                "-https01",
                "",
                "-tlsalpn01",
                "",
                "-management",
                f"127.0.0.1:{dns_mgmt_port}",
                "-defaultIPv4",
                site_address,
                "-defaultIPv6",
                "",
            ],
            base / "challtestsrv.log",
        )
    )
    wait_for_port(dns_mgmt_port)  # the DNS side (UDP) is up by then
    config = base / "pebble.json"
    config.write_text(
        json.dumps(
            {
                "pebble": {
                    "listenAddress": f"{listen_host}:{acme_port}",
                    "managementListenAddress": f"127.0.0.1:{mgmt_port}",
                    "certificate": str(listener_cert),
                    "privateKey": str(listener_key),
                    "httpPort": http_port,
                    "tlsPort": free_port(),
                    "ocspResponderURL": "",
                    "externalAccountBindingRequired": False,
                    # 90 days like Let's Encrypt; Pebble's 5-year default fails the Mozilla profile.
                    "certificateValidityPeriod": 7776000,
                }
            }
        )
    )
    processes.append(
        start_process(
            ["pebble", "-config", str(config), "-dnsserver", f"127.0.0.1:{dns_port}"],
            base / "pebble.log",
            {"PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0", "PEBBLE_AUTHZREUSE": "0"},
        )
    )
    wait_for_port(acme_port)
    wait_for_port(mgmt_port)
    pebble_root = httpx.get(
        f"https://localhost:{mgmt_port}/roots/0",
        verify=ssl.create_default_context(cafile=str(listener_ca)),
    )
    root.write_text(pebble_root.text)
    return f"https://localhost:{acme_port}/dir"
