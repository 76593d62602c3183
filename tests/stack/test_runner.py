"""The native runner's parts that need no booted stack: its env-file reader (docker compose's
rules, checked against the real `docker compose config`), the services it takes from compose.yaml,
and what `up` prints."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from stack.config import Project, compose_service_names
from stack.envfile import EnvFileError, parse_env, read_env
from stack.ports import choose_ports
from stack.runner import Stack, healthy_line

pytestmark = pytest.mark.stack

# Every quoting case of compose's env_file syntax, with what a container gets from it.
ENV_FILE = r"""# a comment, then a blank line

PLAIN=plain value
SPACED =   spaced out<three spaces>
INLINE_COMMENT=value # a comment
HASH_INSIDE=value#not-a-comment
LEADING_HASH=#not-a-comment
DOUBLE="a # b"  # a comment
DOUBLE_ESCAPES="line\nnext\ttab \"quoted\" back\\slash"
SINGLE='literal $PLAIN \n'
SINGLE_ESCAPED='it\'s'
EMPTY=
EMPTY_QUOTED=""
EQUALS=a=b
JSON="{\"k\": 1}"
export EXPORTED=yes
REFERENCE=${PLAIN}-$PLAIN
REFERENCE_QUOTED="${PLAIN}!"
REFERENCE_SINGLE='${PLAIN}'
DEFAULT=${UNSET:-fallback}
ALTERNATIVE=${PLAIN:+set}
FROM_ENVIRONMENT=${OUTSIDE}
SHADOWED=from the file
SHADOWED_REFERENCE=$SHADOWED
DOLLARS=a$$b
ESCAPED_DOLLAR="\$PLAIN"
MULTILINE="first
second"
AFTER_QUOTE="kept" ignored
INHERITED
""".replace("<three spaces>", "   ")
ENVIRONMENT = {"OUTSIDE": "outside", "SHADOWED": "from the environment", "INHERITED": "inherited"}
EXPECTED = {
    "PLAIN": "plain value",
    "SPACED": "spaced out",
    "INLINE_COMMENT": "value",
    "HASH_INSIDE": "value#not-a-comment",
    "LEADING_HASH": "#not-a-comment",
    "DOUBLE": "a # b",
    "DOUBLE_ESCAPES": 'line\nnext\ttab "quoted" back\\slash',
    "SINGLE": "literal $PLAIN \\n",
    "SINGLE_ESCAPED": "it's",
    "EMPTY": "",
    "EMPTY_QUOTED": "",
    "EQUALS": "a=b",
    "JSON": '{"k": 1}',
    "EXPORTED": "yes",
    "REFERENCE": "plain value-plain value",
    "REFERENCE_QUOTED": "plain value!",
    "REFERENCE_SINGLE": "${PLAIN}",
    "DEFAULT": "fallback",
    "ALTERNATIVE": "set",
    "FROM_ENVIRONMENT": "outside",
    # The file's own value stands; a reference to the name takes the environment's first.
    "SHADOWED": "from the file",
    "SHADOWED_REFERENCE": "from the environment",
    "DOLLARS": "a$b",
    "ESCAPED_DOLLAR": "$PLAIN",
    "MULTILINE": "first\nsecond",
    "AFTER_QUOTE": "kept",
    "INHERITED": "inherited",
}


def test_env_files_are_read_as_docker_compose_reads_them(tmp_path: Path):
    (tmp_path / "cases.env").write_text(ENV_FILE)
    assert read_env(tmp_path / "cases.env", ENVIRONMENT) == EXPECTED

    # The same file through the real docker compose: what a container would get.
    (tmp_path / "compose.yaml").write_text(
        "services:\n  app:\n    image: x\n    env_file: [cases.env]\n"
    )
    assert shutil.which("docker"), "the docker CLI with compose v2 (scripts/setup.sh installs it)"
    rendered = subprocess.run(
        ["docker", "compose", "config", "--format", "json"],
        cwd=tmp_path,
        env={"PATH": os.environ["PATH"], "HOME": str(tmp_path), **ENVIRONMENT},
        capture_output=True,
        text=True,
        check=True,
    )
    environment = json.loads(rendered.stdout)["services"]["app"]["environment"]
    # `config` writes every literal $ as $$ (its own escaping in the YAML it prints).
    assert {name: value.replace("$$", "$") for name, value in environment.items()} == EXPECTED


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('A=1\nB="no end\n', 'cases.env:2: the value of B has no closing "'),
        ("not a line\n", "cases.env:1: expected NAME=VALUE, got 'not a line'"),
        (
            "A=${NEEDED:?set NEEDED in .env}\n",
            "cases.env:1: NEEDED is required: set NEEDED in .env",
        ),
    ],
)
def test_a_bad_env_line_is_named_with_its_file_and_line(text: str, message: str):
    with pytest.raises(EnvFileError) as refused:
        parse_env(text, "cases.env", {})
    assert str(refused.value) == message


def test_the_runner_takes_the_services_from_compose_yaml(rendered_project: Path):
    compose = yaml.safe_load((rendered_project / "compose.yaml").read_text())
    names = compose_service_names(rendered_project / "compose.yaml")
    assert names == list(compose["services"])
    assert names == [
        "db",
        "storage",
        "backend",
        "mailer",
        "frontend",
        "nginx",
        "certbot",
        "backup",
        "watcher",
    ]


def test_a_compose_service_without_a_native_recipe_is_named_at_up(rendered_project, tmp_path):
    """A service added to compose.yaml is never silently left out: `up` says it runs only in
    Docker (here before failing on a missing PostgreSQL, so no stack is booted for it)."""
    project = shutil.copytree(rendered_project, tmp_path / "project", symlinks=True)
    compose = (project / "compose.yaml").read_text()
    compose = compose.replace(
        "\nnetworks:\n", "\n  newcomer:\n    image: example/newcomer\n\nnetworks:\n"
    )
    (project / "compose.yaml").write_text(compose)
    assert "newcomer" in yaml.safe_load(compose)["services"]
    result = subprocess.run(
        [sys.executable, str(project / "scripts/local/stack.py"), "up", "--state-dir",
         str(tmp_path / "state")],
        env={**os.environ, "PG_BIN": str(tmp_path / "no-postgres")},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.stdout.splitlines() == [
        "backup: runs only in Docker (no native recipe in scripts/local/stack/).",
        "newcomer: runs only in Docker (no native recipe in scripts/local/stack/).",
    ]
    assert result.returncode == 1 and "PostgreSQL ≥ 15 binaries not found" in result.stderr


def test_a_managed_database_still_gets_a_local_postgresql(rendered_project, tmp_path):
    """With swarm_database_host, compose.yaml has no db (the database is outside): locally the
    backend still needs one, so the runner starts its own PostgreSQL, first."""
    project = shutil.copytree(rendered_project, tmp_path / "project", symlinks=True)
    compose = yaml.safe_load((project / "compose.yaml").read_text())
    del compose["services"]["db"]
    (project / "compose.yaml").write_text(yaml.safe_dump(compose, sort_keys=False))
    stack = Stack(tmp_path / "state", Project(project))
    assert stack.docker_only() == ["backup"]
    assert stack.names == [
        "postgres",
        "storage",
        "backend",
        "mailer",
        "frontend",
        "nginx",
        "watcher",
    ]


def test_a_first_up_says_how_long_the_packages_took():
    """A first `up` installs the services' packages before it starts anything: it says both
    times, not only the short one."""
    url = "https://localhost:8443/"
    assert healthy_line(3.44, None, url) == f"Stack healthy in 3.4 s: {url}"
    assert healthy_line(3.44, 26.61, url) == (
        f"Stack healthy in 3.4 s (26.6 s with the first installation of the services' packages):"
        f" {url}"
    )


def test_each_service_gets_a_port_of_its_own():
    """The runner picks a free loopback port per service by asking the kernel, one after the other,
    before any service listens: the kernel may hand a just-closed port out again, and a stack whose
    edge got the same port for HTTP and HTTPS refused to start (nginx: "a duplicate default
    server"). Many names at once make a repeat certain if nothing prevents it."""
    names = [f"service{n}" for n in range(3000)]
    ports: dict[str, int] = {}
    choose_ports(ports, names, {}, running=lambda name: False)
    assert len(set(ports.values())) == len(names)
