"""The deploy layer's server and its first deployment, made once and shared by its modules
(test_deploy.py, then test_sites.py and test_sites_shared.py, which add sites beside it on the
same server). Package scope (tests/deploy has an __init__.py): the site is taken down when the
layer ends, so later layers find this machine's ports 80 and 443 free, as a new server has them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support.deploy import server_with_acme
from support.deployment import Deployment
from support.docker.engine import Engine
from support.docker.images import base_images, ensure_base_images
from support.project import render


@pytest.fixture(scope="package")
def deployment(docker_engine: Engine, session_tmp: Path) -> Iterator[Deployment]:
    base = session_tmp / "deploy"
    project = render(base / "project")
    ensure_base_images(docker_engine, base_images(project))
    with server_with_acme(base, docker_engine) as (server, pebble_root):
        deployed = Deployment(docker_engine, project, server, pebble_root)
        yield deployed
        print("\ndeploy timings (s):", {k: round(v, 1) for k, v in deployed.timings.items()})


@pytest.fixture(scope="package")
def deployed(deployment: Deployment) -> Deployment:
    """After the first deploy_all (its own test checks what it printed)."""
    if len(deployment.containers()) < len(deployment.services):
        result = deployment.run("deploy_all")
        assert result.returncode == 0, result.stdout + result.stderr
    return deployment
