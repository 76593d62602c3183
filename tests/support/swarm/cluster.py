"""A two-node Docker Swarm on this machine: two dockerds, each in a network namespace of its own.

    with swarm_cluster(run_dir) as cluster:
        cluster.manager.engine.docker("node", "ls")

Layout (all addresses the tests' own; nothing overlaps Docker's default 172.17.0.0/16 or the
compose layers' 172.30.57.0/24, and neither the root namespace's docker0 nor its iptables chains
of Docker are touched):

    root namespace   bridge closo-swbr 10.241.0.254/24 (the object store listens here)
      |- veth csw1-h <-> eth in netns closo-sw1: node 1, 10.241.0.1, the manager
      |- veth csw2-h <-> eth in netns closo-sw2: node 2, 10.241.0.2, a worker
    (the image registry, registry.py, listens on 10.241.0.254:5000: each dockerd lists it as an
    insecure registry, plain HTTP on the tests' own bridge)

Each node is a dockerd with its own data root (in the user's cache, so images survive between
runs), exec root, pid file, socket, bridge (-b, made in its namespace) and address pool, started
with DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1 (no task start tries a registry first) unless it is one
of the `pulling` nodes (see swarm_cluster). Both run in
namespaces of their own because a dockerd started in the root namespace deletes and recreates
Docker's iptables chains there, under the feet of the engine the containers and deploy layers use
at the same time. The namespaces reach the outside (pip in image builds) through one masquerade
rule; that rule and two FORWARD rules are the only changes to the root namespace's firewall, each
tagged with a comment and removed at the end.

Everything is stopped by PID and removed whatever happens: `swarm_cluster` cleans up in its
`finally`, and a run killed before that is cleaned up by the next one's start.

Cutting node 2 off (`cut`) takes its link down: a lost server as the manager sees it. (Killing
its dockerd would not do: its containers keep serving.)
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from support.docker.engine import CACHE, DOCKERD, DockerError, Engine, exclusive, is_dockerd
from support.processes import stop_pid
from support.waiting import wait_for

SUBNET = "10.241.0.0/24"
HOST_ADDRESS = "10.241.0.254"
# The tests' image registry (registry.py), on the bridge: both nodes pull from it over HTTP.
REGISTRY_ADDRESS = f"{HOST_ADDRESS}:5000"
ROOT_BRIDGE = "closo-swbr"
COMMENT = "closo-template swarm tests"
# Overlay networks of the swarm (ingress included), apart from every node's own pool.
SWARM_POOL = "10.245.0.0/16"
# The stack's own overlay network (SWARM_SUBNET).
STACK_SUBNET = "10.246.0.0/24"


@dataclass
class Node:
    number: int
    engine: Engine

    @property
    def netns(self) -> str:
        return f"closo-sw{self.number}"

    @property
    def address(self) -> str:
        return f"10.241.0.{self.number}"

    @property
    def link(self) -> str:
        """The root namespace's end of the node's veth pair (down = the node is cut off)."""
        return f"csw{self.number}-h"

    @property
    def node_id(self) -> str:
        return self.engine.docker("info", "--format", "{{.Swarm.NodeID}}").stdout.strip()

    def docker(self, *args: str, **kwargs) -> subprocess.CompletedProcess[str]:
        return self.engine.docker(*args, **kwargs)


@dataclass
class Cluster:
    nodes: list[Node]
    host_address: str = HOST_ADDRESS

    @property
    def manager(self) -> Node:
        return self.nodes[0]

    def node_names(self) -> dict[str, int]:
        """Swarm node id -> node number."""
        return {node.node_id: node.number for node in self.nodes}

    def cut(self, node: Node) -> None:
        _ip("link", "set", node.link, "down")

    def heal(self, node: Node) -> None:
        _ip("link", "set", node.link, "up")

    def node_state(self, node: Node) -> str:
        return self.manager.docker(
            "node", "inspect", node.node_id, "--format", "{{.Status.State}}"
        ).stdout.strip()

    def copy_images(self, names: list[str], source: Node, target: Node) -> list[str]:
        """`docker save | docker load` of the names whose image id differs on `target`."""
        missing = [n for n in names if _image_id(source, n) != _image_id(target, n)]
        if missing:
            save = subprocess.Popen(
                ["docker", "save", *missing], env=source.engine.env, stdout=subprocess.PIPE
            )
            load = subprocess.run(
                ["docker", "load", "--quiet"],
                env=target.engine.env,
                stdin=save.stdout,
                capture_output=True,
                text=True,
                timeout=900,
            )
            save.stdout.close()
            if save.wait(timeout=60) != 0 or load.returncode != 0:
                raise DockerError(f"copying {missing} failed: {load.stderr[-2000:]}")
        return missing


def _image_id(node: Node, name: str) -> str | None:
    result = node.docker("image", "inspect", "--format", "{{.Id}}", name, check=False)
    return result.stdout.strip() if result.returncode == 0 else None


def _run(*command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    if check and result.returncode != 0:
        raise DockerError(f"{' '.join(command)} exited {result.returncode}: {result.stderr}")
    return result


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return _run("ip", *args, check=check)


def _in_netns(netns: str, *args: str) -> subprocess.CompletedProcess[str]:
    return _ip("netns", "exec", netns, *args)


# The root namespace's firewall: the bridge forwards (br_netfilter sends bridged frames through
# FORWARD, whose policy Docker sets to DROP), and the namespaces reach the outside.
FIREWALL = (
    ("filter", "FORWARD", "-i", ROOT_BRIDGE, "-j", "ACCEPT"),
    ("filter", "FORWARD", "-o", ROOT_BRIDGE, "-j", "ACCEPT"),
    ("nat", "POSTROUTING", "-s", SUBNET, "!", "-o", ROOT_BRIDGE, "-j", "MASQUERADE"),
)


def _firewall(action: str) -> None:
    for table, chain, *rule in FIREWALL:
        spec = [*rule, "-m", "comment", "--comment", COMMENT]
        present = _run("iptables", "-t", table, "-C", chain, *spec, check=False).returncode == 0
        if action == "add" and not present:
            _run("iptables", "-t", table, "-I", chain, "1", *spec)
        while action == "delete" and present:
            _run("iptables", "-t", table, "-D", chain, *spec)
            present = _run("iptables", "-t", table, "-C", chain, *spec, check=False).returncode == 0


def _network_up(count: int) -> None:
    _ip("link", "add", ROOT_BRIDGE, "type", "bridge")
    _ip("addr", "add", f"{HOST_ADDRESS}/24", "dev", ROOT_BRIDGE)
    _ip("link", "set", ROOT_BRIDGE, "up")
    for number in range(1, count + 1):
        netns, host_end = f"closo-sw{number}", f"csw{number}-h"
        _ip("netns", "add", netns)
        _ip("link", "add", host_end, "type", "veth", "peer", "name", "eth0", "netns", netns)
        _ip("link", "set", host_end, "master", ROOT_BRIDGE, "up")
        _in_netns(netns, "ip", "link", "set", "lo", "up")
        _in_netns(netns, "ip", "addr", "add", f"10.241.0.{number}/24", "dev", "eth0")
        _in_netns(netns, "ip", "link", "set", "eth0", "up")
        _in_netns(netns, "ip", "route", "add", "default", "via", HOST_ADDRESS)
        # The node's own bridge for its containers (dockerd -b): never a docker0.
        bridge = f"csw{number}-br"
        _in_netns(netns, "ip", "link", "add", bridge, "type", "bridge")
        _in_netns(netns, "ip", "addr", "add", f"10.242.{number}.1/24", "dev", bridge)
        _in_netns(netns, "ip", "link", "set", bridge, "up")
    _firewall("add")


def _network_down(count: int) -> None:
    for number in range(1, count + 1):
        _ip("netns", "del", f"closo-sw{number}", check=False)  # takes its veth ends along
        _ip("link", "del", f"csw{number}-h", check=False)
    _ip("link", "del", ROOT_BRIDGE, check=False)
    _firewall("delete")


def _node_engine(number: int, run_dir: Path) -> Engine:
    data_root = CACHE / "swarm" / f"node{number}"
    data_root.mkdir(parents=True, exist_ok=True)
    return Engine(
        socket=run_dir / f"node{number}.sock",
        pidfile=CACHE / "swarm" / f"node{number}.pid",  # one daemon per data root
        log=run_dir / f"node{number}.log",
        data_root=data_root,
        exec_root=run_dir / f"n{number}",
    )


def _spawn(node: Node, pulls: bool, timeout: float = 60) -> None:
    engine = node.engine
    dockerd = " ".join(
        [
            "exec",
            str(DOCKERD),
            f"--data-root {engine.data_root}",
            f"--exec-root {engine.exec_root}",
            f"--pidfile {engine.pidfile}",
            f"--host {engine.host}",
            f"--bridge csw{node.number}-br",
            f"--default-address-pool base=10.24{2 + node.number}.0.0/16,size=24",
            f"--insecure-registry {REGISTRY_ADDRESS}",
        ]
    )
    with engine.log.open("ab") as log:
        # nsenter --net, not `ip netns exec` (which remounts /sys: "Devices cgroup isn't
        # mounted"); a UTS namespace of its own gives the node its own name in the swarm.
        engine.process = subprocess.Popen(
            [
                "nsenter",
                f"--net=/var/run/netns/{node.netns}",
                "unshare",
                "--uts",
                "sh",
                "-c",
                f"hostname closo-swarm-{node.number} && {dockerd}",
            ],
            env={**os.environ, **({} if pulls else {"DOCKER_SERVICE_PREFER_OFFLINE_IMAGE": "1"})},
            stdout=log,
            stderr=log,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def answers() -> bool:
        if engine.process.poll() is not None:
            raise DockerError(f"dockerd of node {node.number} exited:\n{engine.log.read_text()}")
        return engine.socket.exists() and engine.docker("info", check=False).returncode == 0

    try:
        wait_for(answers, timeout, interval=0.2, what=f"dockerd of node {node.number} answering")
    except AssertionError as error:
        raise DockerError(f"{error}:\n{engine.log.read_text()}") from None


def _clean_engine(node: Node) -> None:
    """What an earlier run left in the node's data root: its swarm, containers, volumes."""
    node.docker("swarm", "leave", "--force", check=False)
    if ids := node.docker("ps", "--all", "--quiet").stdout.split():
        node.docker("rm", "--force", "--volumes", *ids)
    node.docker("network", "prune", "--force")
    if names := node.docker("volume", "ls", "--quiet").stdout.split():
        node.docker("volume", "rm", "--force", *names)


def _stop_leftover(pidfile: Path) -> None:
    """A dockerd of a killed run, by the pid in its pid file (only if it is a dockerd)."""
    try:
        pid = int(pidfile.read_text())
    except (OSError, ValueError):
        return
    if is_dockerd(pid):
        stop_pid(pid, 30)
    pidfile.unlink(missing_ok=True)


def _unmount_under(*folders: Path) -> None:
    """Mounts a killed dockerd leaves (its netns files, a data root bound on itself)."""
    prefixes = tuple(f"{folder}/" for folder in folders) + tuple(str(f) for f in folders)
    mounts = [line.split()[1] for line in Path("/proc/self/mounts").read_text().splitlines()]
    for mount in sorted((m for m in mounts if m.startswith(prefixes)), reverse=True):
        _run("umount", "-l", mount, check=False)


def check_requirements() -> None:
    if os.geteuid() != 0:
        raise DockerError("the swarm layer starts dockerds in network namespaces: run it as root.")
    for tool in ("nsenter", "unshare", "ip", "iptables", "docker"):
        if not shutil.which(tool):
            raise DockerError(f"{tool} not found: run scripts/setup.sh (Docker and iproute2).")
    if not DOCKERD.exists():
        raise DockerError("dockerd is missing: run scripts/setup.sh (tests/support/docker).")


@contextlib.contextmanager
def swarm_cluster(
    run_dir: Path, count: int = 2, pulling: tuple[int, ...] = ()
) -> Iterator[Cluster]:
    """Two dockerds in namespaces of their own, node 1 the manager, node 2 a worker.

    The nodes numbered in `pulling` pull a task's image before starting it, as every node does
    by default (from the registry of registry.py); the others use the images they have and pull
    none (DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1), which keeps a task of an image that exists in
    no registry here (the look-alike postgres) from stalling on Docker Hub first."""
    check_requirements()
    with exclusive("swarm"):
        yield from _cluster(run_dir, count, pulling)


def _cluster(run_dir: Path, count: int, pulling: tuple[int, ...]) -> Iterator[Cluster]:
    run_dir.mkdir(parents=True, exist_ok=True)
    nodes = [Node(n, _node_engine(n, run_dir)) for n in range(1, count + 1)]
    for node in nodes:
        _stop_leftover(node.engine.pidfile)
        _unmount_under(node.engine.data_root)
    _network_down(count)  # what a killed run left
    try:
        _network_up(count)
        for node in nodes:
            _spawn(node, pulls=node.number in pulling)
            _clean_engine(node)
        manager, workers = nodes[0], nodes[1:]
        # A 1 s heartbeat: a lost node is declared down in seconds rather than 15 s.
        manager.docker(
            "swarm",
            "init",
            "--advertise-addr",
            manager.address,
            "--default-addr-pool",
            SWARM_POOL,
            "--dispatcher-heartbeat",
            "1s",
        )
        token = manager.docker("swarm", "join-token", "--quiet", "worker").stdout.strip()
        for node in workers:
            node.docker(
                "swarm", "join", "--token", token, "--advertise-addr", node.address,
                f"{manager.address}:2377",
            )  # fmt: skip
        yield Cluster(nodes)
    finally:
        for node in reversed(nodes):
            if node.engine.pid() is not None:
                node.docker("swarm", "leave", "--force", check=False, timeout=60)
        for node in nodes:
            node.engine.stop()
            _unmount_under(node.engine.exec_root, node.engine.data_root)
        _network_down(count)
