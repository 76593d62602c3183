"""Lint everything the template generates, with the tools a reviewer of the project would run.

ruff (with the generated project's own ruff.toml), shellcheck, blinter for the batch files,
hadolint for the Dockerfiles, the compose specification's JSON schema plus the cross-references the
schema cannot see, line endings and executable bits.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml
from support.project import read_env

BIN = Path(__file__).resolve().parents[2] / ".venv" / "bin"
SERVICES = ("db", "storage", "backend", "frontend", "nginx", "certbot")


def tool(name: str) -> str:
    path = BIN / name
    return str(path) if path.exists() else name


def files(project: Path, pattern: str) -> list[Path]:
    return sorted(p for p in project.rglob(pattern) if ".git" not in p.parts)


def lint(cmd: list[str], cwd: Path) -> None:
    result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    assert result.returncode == 0, f"{' '.join(cmd[:3])} failed:\n{result.stdout}\n{result.stderr}"


@pytest.fixture(scope="module")
def compose(rendered_project: Path) -> dict:
    return yaml.safe_load((rendered_project / "compose.yaml").read_text())


def test_python_passes_ruff_with_the_projects_own_config(rendered_project):
    # ruff finds the project's ruff.toml itself; without one it applies its default rules.
    lint([tool("ruff"), "check", "--no-cache", "."], rendered_project)


def test_shell_scripts_pass_shellcheck(rendered_project):
    scripts = files(rendered_project, "*.sh")
    assert len(scripts) >= 10
    lint(
        [tool("shellcheck"), "-x", "--source-path=SCRIPTDIR", *map(str, scripts)], rendered_project
    )


def test_batch_files_pass_blinter(rendered_project):
    for bat in files(rendered_project, "*.bat"):
        lint([tool("blinter"), str(bat), "--fail-on", "error", "--follow-calls"], bat.parent)


def test_the_swarm_only_files_pass_shellcheck_blinter_and_ruff(session_tmp):
    """stack.yaml's scripts exist only with deploy_mode=swarm, which the default lacks."""
    from support.project import render

    project = render(session_tmp / "lint-swarm", deploy_mode="swarm")
    prod = project / "scripts" / "prod"
    scripts = sorted(prod.glob("*swarm*.sh"))
    assert len(scripts) == 7
    lint([tool("shellcheck"), "-x", "--source-path=SCRIPTDIR", *map(str, scripts)], project)
    for bat in sorted(prod.glob("swarm_*.bat")):
        lint([tool("blinter"), str(bat), "--fail-on", "error", "--follow-calls"], prod)
    lint([tool("ruff"), "check", "--no-cache", "scripts/prod"], project)


def test_dockerfiles_have_no_hadolint_error(rendered_project):
    dockerfiles = files(rendered_project, "Dockerfile")
    assert {d.parent.name for d in dockerfiles} >= {
        "backend",
        "storage",
        "frontend",
        "nginx",
        "certbot",
    }
    lint(
        [tool("hadolint"), "--failure-threshold", "error", *map(str, dockerfiles)], rendered_project
    )


def test_python_images_are_multi_stage_non_root_with_a_healthcheck(rendered_project):
    for service in ("backend", "storage"):
        text = (rendered_project / "closo" / service / "Dockerfile").read_text()
        assert re.search(r"^FROM python:\$\{PYTHON_VERSION\}-slim AS build$", text, re.M)
        assert re.search(r"^USER 10001", text, re.M) and "HEALTHCHECK" in text
        ignored = (rendered_project / "closo" / service / ".dockerignore").read_text().split()
        assert {"tests", "requirements-dev.txt", ".env"} <= set(ignored)


def test_compose_file_matches_the_compose_specification(rendered_project):
    lint(
        [tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", "compose.yaml"],
        rendered_project,
    )


def test_compose_cross_references_resolve(rendered_project, compose):
    services = compose["services"]
    assert set(services) == set(SERVICES)
    named_volumes = set(compose["volumes"])
    assert {"postgres_data", "storage_data"} <= named_volumes
    networks = set(compose.get("networks", {})) | {"default"}
    for name, service in services.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in services, f"{name} depends on unknown {dependency}"
        for mount in service.get("volumes", []):
            source = mount.split(":")[0]
            if not source.startswith((".", "/")):
                assert source in named_volumes, f"{name} mounts undeclared volume {source}"
        for network in service.get("networks", []):
            assert network in networks, f"{name} joins undeclared network {network}"
        if "build" in service:
            context = (
                service["build"]["context"]
                if isinstance(service["build"], dict)
                else service["build"]
            )
            assert (rendered_project / context / "Dockerfile").is_file(), f"{name}: no Dockerfile"


def test_services_wait_for_healthy_dependencies_that_have_a_healthcheck(rendered_project, compose):
    for name, service in compose["services"].items():
        for dependency, rule in service.get("depends_on", {}).items():
            assert rule == {"condition": "service_healthy"}, (name, dependency)
            target = compose["services"][dependency]
            dockerfile = (
                rendered_project
                / str(
                    target.get("build", {}).get("context", "-")
                    if isinstance(target.get("build"), dict)
                    else target.get("build", "-")
                )
                / "Dockerfile"
            )
            assert "healthcheck" in target or "HEALTHCHECK" in dockerfile.read_text(), dependency


def test_compose_names_ports_secrets_and_logs(rendered_project, compose):
    env_keys = set(read_env(rendered_project / ".env"))
    assert compose["networks"]["default"]["name"] == "closo_network"
    for name, service in compose["services"].items():
        assert service["container_name"] == f"closo_{name}"
        assert service["restart"] == "unless-stopped"
        assert service["logging"]["options"]["max-size"]
        assert ("ports" in service) == (name == "nginx"), f"{name} publishes ports"
    assert compose["services"]["nginx"]["ports"] == ["80:80", "443:443"]
    assert "storage_data:/srv/storage:ro" in compose["services"]["nginx"]["volumes"]
    text = (rendered_project / "compose.yaml").read_text()
    required = set(re.findall(r"\$\{(\w+):\?", text))
    assert {"POSTGRES_PASSWORD", "SECRET_KEY", "STORAGE_TOKEN"} <= required
    assert required <= env_keys, f"required but not in .env: {required - env_keys}"
    for name, service in compose["services"].items():
        if "build" not in service:  # pulled images are pinned to a version
            assert re.fullmatch(r"[\w./-]+:\d[\w.-]*", service["image"]), (name, service["image"])


def test_line_endings_and_executable_bits(rendered_project):
    for bat in files(rendered_project, "*.bat"):
        data = bat.read_bytes()
        assert data.count(b"\n") == data.count(b"\r\n") > 0, f"{bat} is not CRLF throughout"
    for script in files(rendered_project, "*.sh"):
        data = script.read_bytes()
        assert b"\r" not in data, f"{script} has CR characters"
        if data.startswith(b"#!"):  # a file without a shebang is a sourced helper
            assert script.stat().st_mode & 0o111, f"{script} is not executable"
