"""The services of a rendered project, read from its compose.yaml: the project's one list of them.

Tests and the bench ask this module which services a project runs, and what each needs (its
container, the folder its image is built from, whether it has a health check), instead of keeping
lists of their own: a service added to compose.yaml is covered everywhere with no other edit.
What a swarm adds (replicas, placement) is read from the merged stack configuration, exactly as
the deploy merges it (remote.sh's swarm `stack-config` action, run with the docker CLI).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml


@dataclass(frozen=True)
class Service:
    name: str
    container: str  # container_name, `<slug>_<name>`: what `docker ps` and the scripts show
    build: Path | None  # the project's folder the image is built from (None: a public image)
    healthcheck: bool  # a check in compose.yaml or a HEALTHCHECK in its Dockerfile

    @property
    def ready_state(self) -> str:
        """What `docker ps`/status shows for it once it is up: healthy only with a check."""
        return "running healthy" if self.healthcheck else "running"


def _build_folder(project: Path, build: object) -> Path | None:
    if build is None:
        return None
    context = build["context"] if isinstance(build, dict) else build
    return (project / str(context)).resolve()


def compose_file(project: Path) -> dict:
    return yaml.safe_load((project / "compose.yaml").read_text())


def services(project: Path) -> dict[str, Service]:
    """Every service of the project's compose.yaml, in the file's order."""
    compose = compose_file(project)
    found = {}
    for name, spec in compose["services"].items():
        folder = _build_folder(project, spec.get("build"))
        dockerfile = folder / "Dockerfile" if folder else None
        in_image = bool(dockerfile and re.search(r"^HEALTHCHECK ", dockerfile.read_text(), re.M))
        found[name] = Service(
            name=name,
            container=spec.get("container_name", f"{compose['name']}_{name}"),
            build=folder,
            healthcheck="healthcheck" in spec or in_image,
        )
    return found


def names(project: Path) -> tuple[str, ...]:
    return tuple(services(project))


def built(project: Path) -> tuple[str, ...]:
    """The services whose image the project builds (and a swarm deploy pushes)."""
    return tuple(name for name, service in services(project).items() if service.build)


def stack_config(project: Path, **env: str) -> dict:
    """The swarm stack as `docker stack deploy` receives it: compose.yaml and stack.yaml merged
    (and stack.override.yaml if the project has one), by the deploy's own script. Image tags and
    the registry default to placeholders; `env` sets others (SWARM_REPLICAS, ...)."""
    # The script runs from the server's .deploy/ folder, beside the project's files.
    with tempfile.TemporaryDirectory(dir=project, prefix=".deploy-") as deploy_dir:
        script = Path(deploy_dir) / "remote.sh"
        shutil.copy2(project / "scripts" / "prod" / "remote.sh", script)
        shutil.copytree(project / "scripts" / "prod" / "remote", Path(deploy_dir) / "remote")
        tags = {f"{name.upper()}_TAG": "c0ffee" for name in built(project)}
        result = subprocess.run(
            ["sh", str(script), "stack-config"],
            cwd=project,
            env={
                **os.environ,
                "DEPLOY_MODE": "swarm",
                "SWARM_REGISTRY": "registry.example.com/team",
                **tags,
                **env,
            },
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 0, f"stack-config failed:\n{result.stdout}\n{result.stderr}"
    return yaml.safe_load(result.stdout)


def replicated(project: Path) -> tuple[str, ...]:
    """The services a swarm runs SWARM_REPLICAS tasks of (the others: one, or SWARM_DB_REPLICAS)."""
    marker = "4242"  # a count no other setting has
    config = stack_config(project, SWARM_REPLICAS=marker)
    deploy = {name: spec.get("deploy", {}) for name, spec in config["services"].items()}
    return tuple(n for n in names(project) if str(deploy[n].get("replicas")) == marker)
