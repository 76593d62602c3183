"""The generated project's CI workflow (.github/workflows/ci.yml), run here step by step.

GitHub's runner is a normal user on Ubuntu; here the steps of the `test` job run as a throwaway
non-root user in a fresh rendering with no .env (a checkout has none), so this also proves
`stack.py` works without root. Steps that install system packages or tools are skipped:
scripts/setup.sh installed the same ones on this machine. The `containers` job's steps run on the
tests' Docker engine (support/docker/engine.py) with look-alike base images where no registry
answers; a hosted runner pulls the official ones.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from support.docker.engine import Engine
from support.docker.images import base_images, ensure_base_images
from support.project import render

pytestmark = pytest.mark.stack

TOOLS = Path(sys.executable).parent  # ruff, shellcheck, check-jsonschema of the test venv
KEPT_ENV = ("SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "LANG")


@pytest.fixture(scope="module")
def ci_user() -> Iterator[str]:
    name = f"ci{uuid.uuid4().hex[:8]}"
    subprocess.run(["useradd", "--create-home", "--shell", "/bin/sh", name], check=True)
    yield name
    subprocess.run(["pkill", "-KILL", "-u", name], check=False)
    subprocess.run(["userdel", "--remove", name], check=False, capture_output=True)


def workflow_steps(project: Path, job: str = "test") -> list[dict]:
    workflow = yaml.safe_load((project / ".github/workflows/ci.yml").read_text())
    return workflow["jobs"][job]["steps"]


def test_workflow_is_a_valid_github_workflow(rendered_project: Path):
    result = subprocess.run(
        [
            str(TOOLS / "check-jsonschema"),
            "--builtin-schema",
            "vendor.github-workflows",
            str(rendered_project / ".github/workflows/ci.yml"),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.network  # the user's first `stack.py test` installs the services' packages with pip
def test_workflow_steps_pass_as_a_normal_user(session_tmp: Path, ci_user: str):
    project = render(session_tmp / "ci-project")
    (project / ".env").unlink()
    shutil.chown(project, ci_user)
    for path in project.rglob("*"):
        shutil.chown(path, ci_user)
    home = pwd.getpwnam(ci_user).pw_dir
    user_env = {"PATH": "/usr/bin:/bin", "HOME": home, "USER": ci_user}
    user_env.update({k: os.environ[k] for k in KEPT_ENV if k in os.environ})
    ran = []
    for step in workflow_steps(project):
        script = step.get("run")
        if not script or "apt-get install" in script or "pip install" in script:
            continue
        if script.lstrip().startswith(("ruff", "shellcheck")):
            # Lint needs only the tools: the test venv's, as root.
            cmd = ["bash", "-e", "-c", script]
            env = {**os.environ, "PATH": f"{TOOLS}:/usr/bin:/bin"}
        else:
            cmd = [
                "runuser",
                "-u",
                ci_user,
                "--",
                "env",
                "-i",
                *(f"{k}={v}" for k, v in user_env.items()),
                "bash",
                "-e",
                "-c",
                script,
            ]
            env = None
        result = subprocess.run(
            cmd, cwd=project, env=env, capture_output=True, text=True, timeout=900
        )
        assert result.returncode == 0, (
            f"step {step.get('name')!r} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
        ran.append(step.get("name"))
    assert ran == [
        "Throwaway secrets",
        "Lint",
        "The services' own test suites",
        "Boot the stack and use it over HTTPS",
    ]
    # Nothing ran as root in the project: every process the steps started was the user's.
    owners = {path.owner() for path in (project / ".stack").rglob("*")}
    assert owners <= {ci_user}, owners


@pytest.mark.containers
def test_containers_job_steps_pass_on_a_docker_engine(session_tmp: Path, docker_engine: Engine):
    project = render(session_tmp / "ci-containers")
    (project / ".env").unlink()
    ensure_base_images(docker_engine, base_images(project))
    ran = []
    try:
        for step in workflow_steps(project, "containers"):
            if "run" not in step or step.get("if") == "failure()":
                continue
            result = subprocess.run(
                ["bash", "-e", "-c", step["run"]],
                cwd=project,
                env=docker_engine.env,
                capture_output=True,
                text=True,
                timeout=900,
            )
            assert result.returncode == 0, (
                f"step {step['name']!r} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
            )
            ran.append(step["name"])
    finally:
        docker_engine.compose(project, "down", "--volumes", check=False)
    assert ran == [
        "Throwaway secrets",
        "Build the images",
        "Start them and wait until every service is healthy",
        "Use the site through the edge (self-signed placeholder certificate)",
        "Stop",
    ]
