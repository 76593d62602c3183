"""An image registry for the test swarm: Debian's docker-registry (the Distribution project's
registry 2.8), on the root namespace's bridge address, where both nodes reach it.

    with image_registry(run_dir) as registry:
        registry.prefix  # "10.241.0.254:5000/tests": what SWARM_REGISTRY is set to

It serves plain HTTP (the nodes' dockerds list it with --insecure-registry, see cluster.py), keeps
its blobs in the user's cache beside the nodes' data roots (a second run pushes only the layers
that changed; what the nodes hold is up to the tests), and is stopped by its PID, pass or fail.
Installed by tests/support/docker/install.sh (scripts/setup.sh runs it).
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from support.docker.engine import CACHE, DockerError
from support.waiting import wait_for

from .cluster import REGISTRY_ADDRESS

BINARY = Path("/usr/bin/docker-registry")


@dataclass
class Registry:
    address: str  # host:port

    @property
    def prefix(self) -> str:
        return f"{self.address}/tests"

    def repositories(self) -> list[str]:
        return httpx.get(f"http://{self.address}/v2/_catalog", timeout=10).json()["repositories"]

    def tags(self, repository: str) -> list[str]:
        answer = httpx.get(f"http://{self.address}/v2/{repository}/tags/list", timeout=10)
        return answer.json().get("tags") or []


@contextlib.contextmanager
def image_registry(run_dir: Path) -> Iterator[Registry]:
    if not BINARY.exists():
        raise DockerError(
            "docker-registry is missing: run scripts/setup.sh (tests/support/docker/install.sh)."
        )
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    data = CACHE / "swarm" / "registry"
    data.mkdir(parents=True, exist_ok=True)
    config = run_dir / "config.yml"
    config.write_text(
        "version: 0.1\n"
        "log:\n  level: warn\n"
        f"storage:\n  filesystem:\n    rootdirectory: {data}\n"
        f"http:\n  addr: {REGISTRY_ADDRESS}\n"
    )
    with (run_dir / "registry.log").open("wb") as log:
        process = subprocess.Popen(
            [str(BINARY), "serve", str(config)], stdout=log, stderr=log, stdin=subprocess.DEVNULL
        )

    def answers() -> bool:
        if process.poll() is not None:
            log = (run_dir / "registry.log").read_text()
            raise DockerError(f"docker-registry exited:\n{log}")
        with contextlib.suppress(httpx.HTTPError):
            return httpx.get(f"http://{REGISTRY_ADDRESS}/v2/", timeout=2).status_code == 200
        return False

    try:
        try:
            wait_for(answers, 20, interval=0.2, what=f"docker-registry on {REGISTRY_ADDRESS}")
        except AssertionError as error:
            raise DockerError(str(error)) from None
        yield Registry(REGISTRY_ADDRESS)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
