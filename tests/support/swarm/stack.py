"""A rendered deploy_mode=swarm project deployed on the test swarm by its own scripts.

Two ways, both with the project's own files unchanged:
- over a real sshd (`Deployment.server` set, the swarm layer): the operator's scripts
  (scripts/prod/*.sh) upload to the server's folder and run remote.sh there as the
  deploy user, whose docker talks to the manager; images go through the tests' registry
  (registry.py), pushed by deploy_all and pulled by the nodes.
- directly (the benchmark): the project folder plays the server's folder and remote.sh runs
  with DOCKER_HOST set to the manager; images are built and tagged by content on the manager
  (`images-tag`) and loaded into the worker, the stack resolves no image
  (`STACK_RESOLVE_IMAGE=never`) and the nodes try no pull (DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1).
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from support import services
from support.docker.images import base_images, ensure_base_images
from support.sshd import SshServer

from .cluster import STACK_SUBNET, Cluster, Node

# A name that never resolves (RFC 2606): nothing is pushed or pulled.
REGISTRY = "registry.invalid/tests"


@dataclass
class Deployment:
    cluster: Cluster
    project: Path
    slug: str
    ports: tuple[int, int]
    subnet: str = STACK_SUBNET
    server: SshServer | None = None  # set: the project is deployed over ssh to its folder
    registry: str = REGISTRY
    outputs: dict[str, str] = field(default_factory=dict)  # what the operator's scripts printed

    @cached_property
    def replicated(self) -> tuple[str, ...]:
        """The services the swarm runs SWARM_REPLICAS tasks of (read from the merged stack)."""
        return services.replicated(self.project)

    @property
    def folder(self) -> Path:
        """The server's copy of the project (where remote.sh runs)."""
        return self.server.remote_dir if self.server else self.project

    @property
    def edge(self) -> str:
        """Where the edge answers: node 1's address, in a namespace the tests made."""
        return self.cluster.manager.address

    def env(self, **extra: str) -> dict[str, str]:
        return {
            **os.environ,
            "DOCKER_HOST": self.cluster.manager.engine.host,
            "DEPLOY_MODE": "swarm",
            "PROJECT_SLUG": self.slug,
            "SWARM_REGISTRY": self.registry,
            "SWARM_SUBNET": self.subnet,
            "HTTP_PORT": str(self.ports[0]),
            "HTTPS_PORT": str(self.ports[1]),
            "STACK_RESOLVE_IMAGE": "never",
            "DEPLOY_WAIT_TIMEOUT": "300",
            **extra,
        }

    def run_remote(
        self, *actions: str, timeout: float = 1500, **extra: str
    ) -> subprocess.CompletedProcess[str]:
        """remote.sh's actions in swarm mode, on the server over ssh (its settings.env, with
        `extra` set in the environment for the run) or directly."""
        if self.server is None:
            return subprocess.run(
                ["sh", str(self.project / ".deploy" / "remote.sh"), *actions],
                cwd=self.project,
                env=self.env(**extra),
                capture_output=True,
                text=True,
                timeout=timeout,
            )
        settings = {"DEPLOY_MODE": "swarm", "PROJECT_SLUG": self.slug, **extra}
        variables = " ".join(f"{k}={shlex.quote(v)}" for k, v in settings.items())
        command = (
            f"cd {shlex.quote(str(self.folder))} && {variables} sh .deploy/remote.sh "
            + " ".join(map(shlex.quote, actions))
        )
        return subprocess.run(
            ["ssh", *shlex.split(self.server.ssh_opts), "-p", str(self.server.port),
             f"{self.server.user}@127.0.0.1", command],
            capture_output=True,
            text=True,
            timeout=timeout,
        )  # fmt: skip

    def script(
        self, name: str, *args: str, answer: str = "", timeout: float = 1500
    ) -> subprocess.CompletedProcess[str]:
        """An operator's script (scripts/prod/NAME.sh) run from the project against the server."""
        assert self.server is not None
        return subprocess.run(
            ["sh", str(self.project / "scripts" / "prod" / f"{name}.sh"), *args],
            cwd=self.project,
            env=self.server.script_env(),
            input=answer,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def remote(self, *actions: str, timeout: float = 1500, **extra: str) -> str:
        """Run remote.sh's actions (swarm mode); return its stdout (raises with its output)."""
        result = self.run_remote(*actions, timeout=timeout, **extra)
        if result.returncode != 0:
            raise AssertionError(
                f"remote.sh {' '.join(actions)} exited {result.returncode}:\n"
                f"{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
            )
        return result.stdout + result.stderr

    def tags(self) -> dict[str, str]:
        lines = (self.folder / ".deploy" / "image-tags.env").read_text().splitlines()
        return dict(line.split("=", 1) for line in lines if "=" in line)

    def image(self, service: str) -> str:
        return f"{self.registry}/{self.slug}/{service}:{self.tags()[service.upper() + '_TAG']}"

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
                [self.image(s) for s in self.replicated], self.cluster.manager, node
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
    prod = project / "scripts" / "prod"
    shutil.copy2(prod / "remote.sh", deploy_dir / "remote.sh")
    shutil.copytree(prod / "remote", deploy_dir / "remote", dirs_exist_ok=True)
    deployment = Deployment(cluster, project, slug, ports, subnet)
    deployment.remote("swarm-init")
    return deployment
