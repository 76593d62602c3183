"""Every health check of the images and of compose.yaml, run against the native stack: no Docker.

Docker decides from these commands whether a service is healthy, and compose starts the backend
and the edge only once their dependencies are; a check that cannot pass (as the storage image's
once did, calling a token-protected route without the token) stops every first deploy. This runs
each check's exact command, with the environment compose gives the container (settings.env, .env
and the service's `environment:`), against the services the native runner booted.

What differs from the container, and why: the address. The check targets 127.0.0.1 at the port the
service listens on in its image (8000, 8060, 80); here the same service listens on the runner's
port, so that one address is rewritten. `python` is the test interpreter (the checks use only the
standard library), `wget` and `nc` are BusyBox's as in the Alpine-based nginx image, `pg_isready`
is PostgreSQL's own, pointed at the runner's cluster with PGHOST/PGPORT.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml
from support.project import PG_BIN, Stack, read_env

pytestmark = pytest.mark.stack

# Image service -> (port in the image, runner's service name).
PORTS = {"backend": (8000, "backend"), "storage": (8060, "storage"), "frontend": (80, "frontend")}


def dockerfile_check(project: Path, service: str) -> list[str]:
    text = next(project.glob(f"*/{service}/Dockerfile")).read_text().replace("\\\n", " ")
    match = re.search(r"^HEALTHCHECK .*?CMD (\[.*\])\s*$", text, re.MULTILINE)
    assert match, f"{service}/Dockerfile has no HEALTHCHECK CMD [...]"
    return json.loads(match[1])


def compose_env(project: Path, service: str) -> dict[str, str]:
    """What compose gives the container: settings.env, then its `environment:` interpolated
    from .env."""
    secrets = read_env(project / ".env")
    env = read_env(project / "settings.env")
    declared = yaml.safe_load((project / "compose.yaml").read_text())["services"][service]
    for name, value in (declared.get("environment") or {}).items():
        env[name] = re.sub(
            r"\$\{(\w+)(?::[-?][^}]*)?\}", lambda m: secrets.get(m[1], ""), str(value)
        )
    return env


@pytest.fixture(scope="module")
def tools(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """python, wget and nc as the images have them."""
    busybox = shutil.which("busybox")
    assert busybox, "busybox is missing: run scripts/setup.sh"
    folder = tmp_path_factory.mktemp("image-tools")
    (folder / "python").symlink_to(sys.executable)
    for applet in ("wget", "nc"):
        (folder / applet).symlink_to(busybox)
    return folder


def run_check(argv: list[str], env: dict[str, str], tools: Path) -> subprocess.CompletedProcess:
    path = f"{tools}:{PG_BIN}:/usr/bin:/bin"
    return subprocess.run(
        argv, env={**env, "PATH": path}, capture_output=True, text=True, timeout=15
    )


def localise(argv: list[str], image_port: int, port: int) -> list[str]:
    """The image's address of the service -> the runner's."""
    suffix = "" if image_port == 80 else f":{image_port}"
    out = [a.replace(f"127.0.0.1{suffix}/", f"127.0.0.1:{port}/") for a in argv]
    assert out != argv, f"no 127.0.0.1{suffix}/ in {argv}: the check's address changed?"
    return out


@pytest.mark.parametrize("service", sorted(PORTS))
def test_the_images_health_check_passes_against_the_running_service(
    stack: Stack, tools: Path, service: str
):
    image_port, runner_name = PORTS[service]
    argv = localise(dockerfile_check(stack.project, service), image_port, stack.port(runner_name))
    result = run_check(argv, compose_env(stack.project, service), tools)
    assert result.returncode == 0, f"{argv}\n{result.stdout}\n{result.stderr}"


def test_the_edge_health_check_passes_against_the_running_edge(stack: Stack, tools: Path):
    argv = dockerfile_check(stack.project, "nginx")
    http = urlparse(stack.http_url)
    script = argv[-1].replace("nc 127.0.0.1 80 ", f"nc 127.0.0.1 {http.port} ")
    assert script != argv[-1], "the edge check no longer uses nc 127.0.0.1 80"
    # The native edge serves the runner's name (localhost) where the image serves DOMAIN.
    env = {**compose_env(stack.project, "nginx"), "DOMAIN": http.hostname}
    result = run_check([*argv[:-1], script], env, tools)
    assert result.returncode == 0, f"{script}\n{result.stdout}\n{result.stderr}"


def test_the_database_health_check_passes_against_the_running_cluster(stack: Stack, tools: Path):
    test = yaml.safe_load((stack.project / "compose.yaml").read_text())["services"]["db"][
        "healthcheck"
    ]["test"]
    assert test[0] == "CMD-SHELL"
    command = test[1].replace("$$", "$")  # compose's escape for a literal $
    env = {
        **compose_env(stack.project, "db"),
        "PGHOST": "127.0.0.1",
        "PGPORT": str(stack.port("postgres")),
    }
    result = run_check(["sh", "-c", command], env, tools)
    assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"


def test_a_check_that_cannot_pass_is_caught(stack: Stack, tools: Path):
    """The storage check as it once was, without the token: this layer must see it fail."""
    argv = [
        "python",
        "-c",
        "import urllib.request; urllib.request.urlopen("
        f"'http://127.0.0.1:{stack.port('storage')}/storage/health/ready', timeout=4)",
    ]
    result = run_check(argv, dict(os.environ), tools)
    assert result.returncode != 0 and "401" in result.stderr


def test_the_watcher_health_check_passes_against_the_running_watcher(stack: Stack, tools: Path):
    """The watcher's check reads its state file (no port): pointed at the runner's."""
    argv = dockerfile_check(stack.project, "watcher")
    env = {
        **compose_env(stack.project, "watcher"),
        "WATCH_STATE_FILE": str(stack.state_dir / "watcher" / "state.json"),
    }
    folder = next(stack.project.glob("*/watcher"))
    result = subprocess.run(
        argv, env={**env, "PATH": f"{tools}:/usr/bin:/bin"}, cwd=folder,
        capture_output=True, text=True, timeout=15,
    )  # fmt: skip
    assert result.returncode == 0, f"{argv}\n{result.stdout}\n{result.stderr}"
    # And the same check fails where no round was recorded.
    env["WATCH_STATE_FILE"] = str(stack.state_dir / "watcher" / "none.json")
    result = subprocess.run(argv, env={**env, "PATH": f"{tools}:/usr/bin:/bin"}, cwd=folder)
    assert result.returncode == 1
