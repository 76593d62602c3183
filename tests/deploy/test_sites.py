"""Several sites on one server: the deploy layer's server (conftest.py) with the default site
deployed, and other renders of the template deployed beside it through the same sshd, Docker
engine and Pebble (the stand-ins of test_deploy.py, nothing more).

A second site with its own edge (edge=own) stops before its first step, naming the container that
holds the ports; a step that fails prints the log it points at. test_sites_shared.py then moves the
default site to the shared edge and deploys another beside it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support.deployment import Deployment, copy_of, project_containers, remote
from support.project import render

pytestmark = pytest.mark.deploy


@pytest.fixture(scope="module")
def sites(deployed: Deployment, session_tmp: Path) -> Iterator[Path]:
    """Where this module renders its projects; the sites it deployed are taken down after it."""
    folder = session_tmp / "sites"
    yield folder
    for name in ("delta",):
        if remote(deployed, name).exists():
            deployed.engine.compose(
                remote(deployed, name), "down", "--volumes", "--timeout", "10", check=False
            )


# --- One server, two sites with their own edge ----------------------------------------------------
def test_a_second_site_whose_edge_needs_taken_ports_stops_before_step_one(
    deployed: Deployment, sites: Path
):
    delta = render(sites / "delta", project_name="Delta", project_slug="delta", domain="delta.org")
    before = deployed.containers()
    result = deployed.run("deploy_all", project=delta, REMOTE_DIR=str(remote(deployed, "delta")))
    assert result.returncode == 1, result.stdout + result.stderr
    assert (
        "port 80 of this server is held by the container closo_nginx (compose project closo)"
        in result.stderr
    ), result.stderr
    assert "edge=shared" in result.stderr and "nothing was started" in result.stderr
    assert "starting db" not in result.stderr and "building" not in result.stderr
    assert project_containers(deployed, "delta") == []
    networks = deployed.engine.docker("network", "ls", "--format", "{{.Name}}").stdout.split()
    assert "delta_network" not in networks
    assert deployed.containers() == before


def test_a_service_that_fails_to_start_has_its_log_printed(deployed: Deployment, tmp_path: Path):
    """A frontend that passes its pre-flight (nginx -t) but exits at start: the message points at
    its log, and the log is there, under a heading; the previous frontend serves again."""
    project = copy_of(deployed, tmp_path)
    dockerfile = next(project.glob("*/frontend/Dockerfile"))
    dockerfile.write_text(
        dockerfile.read_text()
        + '\nCMD ["sh", "-c", "echo the frontend refuses to start: a test >&2; exit 3"]\n'
    )
    result = deployed.run("deploy_frontend_no_port", project=project)
    assert result.returncode == 1
    assert "--- the last lines of the frontend log ---" in result.stderr, result.stderr
    assert "the frontend refuses to start: a test" in result.stderr
    assert "the new frontend did not become healthy (its log above)" in result.stderr
    with deployed.client() as client:
        assert client.get("/").status_code == 200
