"""Lint everything the template generates, with the tools a reviewer of the project would run.

ruff (with the generated project's own ruff.toml), shellcheck, blinter for the batch files,
hadolint for the Dockerfiles, the compose specification's JSON schema plus the cross-references the
schema cannot see, line endings and executable bits.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from support.project import read_env
from support.services import services

BIN = Path(__file__).resolve().parents[2] / ".venv" / "bin"


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
    scripts = sorted(prod.glob("**/*swarm*.sh"))
    assert len(scripts) == 7  # swarm_init, swarm_scale, the 4 old names, remote/swarm.sh
    lint([tool("shellcheck"), "-x", "--source-path=SCRIPTDIR", *map(str, scripts)], project)
    for bat in sorted(prod.glob("swarm_*.bat")):
        lint([tool("blinter"), str(bat), "--fail-on", "error", "--follow-calls"], prod)
    lint([tool("ruff"), "check", "--no-cache", "scripts/prod"], project)


def assert_dockerfiles_pass_hadolint(project: Path) -> None:
    dockerfiles = files(project, "Dockerfile")
    built = {service.build for service in services(project).values() if service.build}
    linted = {d.parent.resolve() for d in dockerfiles}
    assert built and built <= linted, f"a built service has no Dockerfile: {built - linted}"
    lint([tool("hadolint"), "--failure-threshold", "error", *map(str, dockerfiles)], project)


def test_dockerfiles_have_no_hadolint_error(rendered_project):
    assert_dockerfiles_pass_hadolint(rendered_project)


def test_the_db_and_backup_images_map_the_backup_settings_with_one_file(rendered_project):
    """PostgreSQL's archive-push (db image) and the backup command must reach the same repository
    with the same key: each image carries a copy of backup-env.sh, and the copies are equal."""
    slug = next(p for p in rendered_project.iterdir() if (p / "backup").is_dir())
    assert (slug / "db" / "backup-env.sh").read_bytes() == (
        slug / "backup" / "backup-env.sh"
    ).read_bytes()


def test_python_images_are_multi_stage_non_root_with_a_healthcheck(rendered_project):
    for service in ("backend", "storage"):
        text = (rendered_project / "closo" / service / "Dockerfile").read_text()
        assert re.search(r"^FROM python:\$\{PYTHON_VERSION\}-slim AS build$", text, re.M)
        assert re.search(r"^USER 10001", text, re.M) and "HEALTHCHECK" in text
        ignored = (rendered_project / "closo" / service / ".dockerignore").read_text().split()
        assert {"tests", "requirements-dev.txt", ".env"} <= set(ignored)


def assert_compose_matches_the_specification(project: Path) -> None:
    lint(
        [tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", "compose.yaml"],
        project,
    )


def assert_compose_cross_references_resolve(project: Path, compose: dict) -> None:
    services = compose["services"]
    named_volumes = set(compose["volumes"])
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
            assert (project / context / "Dockerfile").is_file(), f"{name}: no Dockerfile"


def assert_services_wait_for_healthy_dependencies(project: Path, compose: dict) -> None:
    checked = services(project)
    for name, service in compose["services"].items():
        for dependency, rule in service.get("depends_on", {}).items():
            assert rule == {"condition": "service_healthy"}, (name, dependency)
            assert checked[dependency].healthcheck, f"{name} waits for {dependency}, unchecked"


def assert_compose_names_ports_secrets_and_logs(project: Path, compose: dict) -> None:
    env_keys = set(read_env(project / ".env"))
    slug = compose["name"]
    assert compose["networks"]["default"]["name"] == f"{slug}_network"
    built_images = {s["image"] for s in compose["services"].values() if "build" in s}
    for name, service in compose["services"].items():
        # <slug>_<service>: what status, the scripts and the docs show.
        assert service["container_name"] == f"{slug}_{name}"
        assert service["restart"] == "unless-stopped"
        assert service["logging"]["options"]["max-size"]
        assert ("ports" in service) == (name == "nginx"), f"{name} publishes ports"
        # Pulled images are pinned to a version; the mailer runs the image the backend builds.
        if "build" not in service and service["image"] not in built_images:
            assert re.fullmatch(r"[\w./-]+:\d[\w.-]*", service["image"]), (name, service["image"])
    text = (project / "compose.yaml").read_text()
    required = set(re.findall(r"\$\{(\w+):\?", text))
    assert {"POSTGRES_PASSWORD", "SECRET_KEY", "STORAGE_TOKEN"} <= required
    assert required <= env_keys, f"required but not in .env: {required - env_keys}"


def assert_compose_passes(project: Path) -> None:
    """Everything this module checks of compose.yaml, for any rendering (or edit) of it."""
    compose = yaml.safe_load((project / "compose.yaml").read_text())
    assert_compose_matches_the_specification(project)
    assert_compose_cross_references_resolve(project, compose)
    assert_services_wait_for_healthy_dependencies(project, compose)
    assert_compose_names_ports_secrets_and_logs(project, compose)


def test_compose_file_matches_the_compose_specification(rendered_project):
    assert_compose_matches_the_specification(rendered_project)


def test_compose_cross_references_resolve(rendered_project, compose):
    assert_compose_cross_references_resolve(rendered_project, compose)
    assert {"postgres_data", "storage_data"} <= set(compose["volumes"])


def test_services_wait_for_healthy_dependencies_that_have_a_healthcheck(rendered_project, compose):
    assert_services_wait_for_healthy_dependencies(rendered_project, compose)


def test_compose_names_ports_secrets_and_logs(rendered_project, compose):
    assert_compose_names_ports_secrets_and_logs(rendered_project, compose)
    assert compose["services"]["nginx"]["ports"] == ["80:80", "443:443"]
    assert "storage_data:/srv/storage:ro" in compose["services"]["nginx"]["volumes"]


def test_line_endings_and_executable_bits(rendered_project):
    for bat in files(rendered_project, "*.bat"):
        data = bat.read_bytes()
        assert data.count(b"\n") == data.count(b"\r\n") > 0, f"{bat} is not CRLF throughout"
    for script in files(rendered_project, "*.sh"):
        data = script.read_bytes()
        assert b"\r" not in data, f"{script} has CR characters"
        if data.startswith(b"#!"):  # a file without a shebang is a sourced helper
            assert script.stat().st_mode & 0o111, f"{script} is not executable"


# --- One more service, added as a newcomer adds one -----------------------------------------------
PINGER_DOCKERFILE = """\
# Asks the API for its health every minute (a stand-in for the services to come).
FROM alpine:3.20
USER 10001
HEALTHCHECK --interval=30s CMD ["wget", "-q", "-O", "/dev/null", "http://backend:8000/api/health"]
CMD ["sh", "-c", "while wget -q -O /dev/null http://backend:8000/api/health; do sleep 60; done"]
"""
PINGER_COMPOSE = """
  pinger:
    build: ./closo/pinger
    image: closo/pinger:latest
    container_name: closo_pinger
    restart: unless-stopped
    logging: *logging
    depends_on:
      backend:
        condition: service_healthy
"""
# What a swarm adds for it: its image from the registry, found by DNS round robin (no IPVS).
PINGER_STACK = """
  pinger:
    image: ${SWARM_REGISTRY:?set SWARM_REGISTRY}/closo/pinger:${PINGER_TAG:?run deploy_all}
    deploy:
      endpoint_mode: dnsrr
"""


def add_service(path: Path, entry: str) -> None:
    """`entry` at the end of the file's services (before the top-level networks)."""
    text = path.read_text()
    path.write_text(text.replace("\nnetworks:\n", f"{entry}\nnetworks:\n", 1))


def test_one_more_service_needs_its_folder_its_compose_entry_and_what_is_named_here(session_tmp):
    """A `pinger` with its folder (a Dockerfile) and its compose entry, nothing else: the lint,
    the scripts' check, the swarm's merge and the tests' service reader all take it in. What
    still needs an edit for a new service is listed at the end, by name."""
    from support.project import render
    from support.services import built, names, replicated, stack_config

    project = render(session_tmp / "lint-one-more-service", deploy_mode="swarm")
    (project / "closo" / "pinger").mkdir()
    (project / "closo" / "pinger" / "Dockerfile").write_text(PINGER_DOCKERFILE)
    add_service(project / "compose.yaml", PINGER_COMPOSE)

    pinger = services(project)["pinger"]
    assert names(project)[-1] == "pinger" and "pinger" in built(project)
    assert pinger.container == "closo_pinger" and pinger.ready_state == "running healthy"
    assert_compose_passes(project)
    assert_dockerfiles_pass_hadolint(project)
    lint([sys.executable, "scripts/prod/generate.py", "--check"], project)
    # The swarm deploy takes it from compose.yaml, without what is compose's alone.
    merged = stack_config(project)["services"]["pinger"]
    assert merged["logging"]["options"]["max-size"] == "10m"  # compose's, through the anchor
    assert not {"build", "container_name", "restart", "depends_on"} & set(merged)
    assert replicated(project) == ("storage", "backend", "frontend")

    # Named: what a new service still needs beyond its folder and its compose entry.
    # 1. stack.yaml, by design (what a swarm adds): without an entry the swarm would run the
    #    image only the manager has, behind a virtual IP (IPVS, which the stack does not use).
    assert merged["image"] == "closo/pinger:latest"
    assert merged.get("deploy", {}).get("endpoint_mode") != "dnsrr"
    add_service(project / "stack.yaml", PINGER_STACK)
    merged = stack_config(project)["services"]["pinger"]
    assert merged["image"] == "registry.example.com/team/closo/pinger:c0ffee"
    assert merged["deploy"]["endpoint_mode"] == "dnsrr"
    # 2. Lists of services the scripts still keep (issue 24, item 2 reads them from compose).
    deploy_all = (project / "scripts" / "prod" / "deploy_all.sh").read_text()
    runner = [p.read_text() for p in (project / "scripts" / "local").rglob("*.py")]
    still_to_edit = [
        where
        for where, knows_it in (
            (
                "generator/steps.py DEPLOY_STEPS: deploy_all builds and starts it on one server",
                "pinger" in deploy_all,
            ),
            (
                "scripts/local/stack RECIPES: the native runner runs it (else `up`: Docker only)",
                any("pinger" in t for t in runner),
            ),
        )
        if not knows_it
    ]
    assert still_to_edit == [
        "generator/steps.py DEPLOY_STEPS: deploy_all builds and starts it on one server",
        "scripts/local/stack RECIPES: the native runner runs it (else `up`: Docker only)",
    ], "one of these now reads the services from compose.yaml: take it off this list"


def test_backend_and_storage_share_one_observability_module(rendered_project):
    """One file for the log shape, the request id, the metrics and the error reports of both
    Python services (docs/observability.md): the two copies must not drift."""
    slug = next(rendered_project.glob("*/backend")).parent
    backend = slug / "backend" / "app" / "core" / "observability.py"
    storage = slug / "storage" / "app" / "observability.py"
    assert backend.read_bytes() == storage.read_bytes(), (
        f"{storage} differs from {backend}: edit one, then copy it over the other"
    )
