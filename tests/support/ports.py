"""Loopback ports: free ones to hand a server, and waiting until a server listens on one."""

from __future__ import annotations

import socket
import subprocess

from support.waiting import wait_for


def free_ports(count: int, ip: str = "127.0.0.1") -> list[int]:
    """Distinct free ports on `ip` (held open together so none is handed out twice)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind((ip, 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def free_port(ip: str = "127.0.0.1") -> int:
    return free_ports(1, ip)[0]


def wait_for_port(
    port: int, timeout: float = 10, process: subprocess.Popen | None = None, ip: str = "127.0.0.1"
) -> None:
    """Until something accepts connections on ip:port; fails at once if `process` (the server
    expected there) has exited."""

    def listening() -> bool:
        if process is not None and process.poll() is not None:
            raise AssertionError(f"{process.args[0]} exited with {process.returncode}")
        with socket.socket() as sock:
            return sock.connect_ex((ip, port)) == 0

    wait_for(listening, timeout, interval=0.05, what=f"nothing listens on {ip}:{port}")
