"""A rendered deploy_mode=swarm project deployed on the test swarm by its own remote_swarm.sh.

The project folder plays the server's REMOTE_DIR (the files swarm_deploy would upload are there
already), and remote_swarm.sh runs with DOCKER_HOST set to the manager, exactly as swarm_deploy
runs it over ssh. Images are built and tagged by content on the manager (`images-tag`: no
registry answers here), then loaded into the worker; the stack resolves no image
(`STACK_RESOLVE_IMAGE=never`) and the nodes try no pull (DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1,
see cluster.py).
"""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from support.docker.images import base_images, ensure_base_images

from .cluster import STACK_SUBNET, Cluster, Node

# A name that never resolves (RFC 2606): nothing is pushed or pulled.
REGISTRY = "registry.invalid/tests"
REPLICATED = ("backend", "storage", "frontend")


@dataclass
class Deployment:
    cluster: Cluster
    project: Path
    slug: str
    ports: tuple[int, int]
    subnet: str = STACK_SUBNET

    @property
    def edge(self) -> str:
        """Where the edge answers: node 1's address, in a namespace the tests made."""
        return self.cluster.manager.address

    def env(self, **extra: str) -> dict[str, str]:
        import os

        return {
            **os.environ,
            "DOCKER_HOST": self.cluster.manager.engine.host,
            "PROJECT_SLUG": self.slug,
            "SWARM_REGISTRY": REGISTRY,
            "SWARM_SUBNET": self.subnet,
            "HTTP_PORT": str(self.ports[0]),
            "HTTPS_PORT": str(self.ports[1]),
            "STACK_RESOLVE_IMAGE": "never",
            "DEPLOY_WAIT_TIMEOUT": "300",
            **extra,
        }

    def remote(self, *actions: str, timeout: float = 1500, **extra: str) -> str:
        """Run remote_swarm.sh's actions; return its stdout (raises with its output)."""
        result = subprocess.run(
            ["sh", str(self.project / ".deploy" / "remote_swarm.sh"), *actions],
            cwd=self.project,
            env=self.env(**extra),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if result.returncode != 0:
            raise AssertionError(
                f"remote_swarm.sh {' '.join(actions)} exited {result.returncode}:\n"
                f"{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
            )
        return result.stdout + result.stderr

    def tags(self) -> dict[str, str]:
        lines = (self.project / ".deploy" / "image-tags.env").read_text().splitlines()
        return dict(line.split("=", 1) for line in lines if "=" in line)

    def image(self, service: str) -> str:
        return f"{REGISTRY}/{self.slug}/{service}:{self.tags()[service.upper() + '_TAG']}"

    def service(self, name: str) -> str:
        return f"{self.slug}_{name}"

    def build_and_share_images(self) -> dict[str, float]:
        """images-tag on the manager, then the replicated services' images into every worker."""
        timings = {}
        start = time.monotonic()
        self.remote("images-tag")
        timings["build and tag"] = time.monotonic() - start
        start = time.monotonic()
        for node in self.cluster.nodes[1:]:
            self.cluster.copy_images(
                [self.image(s) for s in REPLICATED], self.cluster.manager, node
            )
        timings["copy to workers"] = time.monotonic() - start
        return timings

    def tasks(self, service: str) -> list[dict[str, str]]:
        """Running tasks: id, node number, container id, overlay address."""
        manager = self.cluster.manager
        ids = manager.docker(
            "service", "ps", self.service(service), "--quiet", "--filter", "desired-state=running"
        ).stdout.split()
        numbers = self.cluster.node_names()
        found = []
        for task_id in ids:
            fields = manager.docker(
                "inspect",
                task_id,
                "--format",
                "{{.Status.State}} {{.NodeID}} {{.Status.ContainerStatus.ContainerID}} "
                "{{range .NetworksAttachments}}{{range .Addresses}}{{.}} {{end}}{{end}}",
            ).stdout.split()
            if fields and fields[0] == "running":
                found.append(
                    {
                        "id": task_id,
                        "node": numbers.get(fields[1], 0),
                        "container": fields[2],
                        "address": fields[3].split("/")[0] if len(fields) > 3 else "",
                    }
                )
        return found

    def replicas(self, service: str) -> str:
        result = self.cluster.manager.docker(
            "service", "ls", "--filter", f"name={self.service(service)}", "--format",
            "{{.Name}} {{.Replicas}}",
        )  # fmt: skip
        for line in result.stdout.splitlines():
            name, _, replicas = line.partition(" ")
            if name == self.service(service):
                return replicas.split()[0]
        return "missing"

    def node_of(self, number: int) -> Node:
        return self.cluster.nodes[number - 1]


def prepare(
    cluster: Cluster, project: Path, slug: str, ports: tuple[int, int], subnet: str = STACK_SUBNET
) -> Deployment:
    """Base images on the manager (look-alikes where no registry answers), the project's
    server-side scripts in place, the manager labelled by swarm-init."""
    ensure_base_images(cluster.manager.engine, base_images(project))
    deploy_dir = project / ".deploy"
    deploy_dir.mkdir(exist_ok=True)
    for name in ("remote.sh", "remote_swarm.sh", "bucket_archive.py"):
        shutil.copy2(project / "scripts" / "prod" / name, deploy_dir / name)
    deployment = Deployment(cluster, project, slug, ports, subnet)
    deployment.remote("swarm-init")
    return deployment


def wait_for(condition, timeout: float, interval: float = 0.5, what: str = "") -> float:
    """Seconds until `condition()` held; AssertionError after `timeout`."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if condition():
            return time.monotonic() - start
        time.sleep(interval)
    raise AssertionError(f"not within {timeout}s: {what}")
