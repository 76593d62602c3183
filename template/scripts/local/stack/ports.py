"""Loopback ports: each service keeps its port across `up`s, a new one only when it is taken."""

from __future__ import annotations

import socket
from collections.abc import Callable, Collection, Iterable


def free_port(taken: Collection[int] = ()) -> int:
    """A port nothing listens on, other than those in `taken` (given to services not started
    yet: the kernel may hand out the port of a closed probe socket again at once)."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port not in taken:
            return port


def port_is_free(port: int) -> bool:
    """Free to listen on, as the servers bind: connections of a stopped server lingering in
    TIME_WAIT do not count (SO_REUSEADDR), or a restart would move the service to a new port."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def choose_ports(
    ports: dict[str, int],
    names: Iterable[str],
    wanted: dict[str, int | None],
    running: Callable[[str], bool],
) -> set[str]:
    """Give each name a port in `ports` (kept, asked for in `wanted`, or a free one when another
    program took it while its service was stopped); return the names whose port moved."""
    moved = set()
    for name in names:
        if wanted.get(name):
            new = wanted[name]
        elif not ports.get(name) or (not running(name) and not port_is_free(ports[name])):
            new = free_port(taken=set(ports.values()) | {p for p in wanted.values() if p})
        else:
            continue
        if ports.get(name) not in (None, new):
            moved.add(name)
        ports[name] = new
    return moved
