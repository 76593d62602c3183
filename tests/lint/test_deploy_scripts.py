"""The deploy scripts (scripts/prod/) as text: generated from one list, twins in step.

Fast checks that need nothing but the rendered files: the committed scripts match generate.py's
list of steps, each .bat issues the same ssh/scp/tar commands as its .sh twin in the same order,
line endings and modes. What the scripts do when run is proven by test_deploy.py (the .sh over a
real sshd) and test_windows.py (the .bat under a real cmd).
"""

from __future__ import annotations

import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from support.project import REPO_ROOT, render

PROD = Path("scripts/prod")
DEPLOY_STEPS = [
    "deploy_bdd",
    "deploy_slave_storage",
    "deploy_backend",
    "deploy_frontend_no_port",
    "deploy_ssl",
]
SWARM_SCRIPTS = [
    "swarm_init",
    "swarm_deploy",
    "swarm_status",
    "swarm_scale",
    "swarm_backup",
    "swarm_restore",
]
SCRIPTS = [*DEPLOY_STEPS, "deploy_all", "status", "backup", "restore", *SWARM_SCRIPTS, "config"]
# The server side of the swarm scripts, also only in a deploy_mode=swarm project.
SWARM_HELPERS = ["remote_swarm.sh", "bucket_archive.py"]


@pytest.fixture(scope="module")
def swarm_project(session_tmp: Path) -> Path:
    return render(session_tmp / "scripts-swarm", deploy_mode="swarm")


@pytest.fixture
def project_of(rendered_project: Path, swarm_project: Path):
    """The rendered project that has `script`: the swarm ones exist with deploy_mode=swarm only."""
    return lambda script: swarm_project if script in SWARM_SCRIPTS else rendered_project


# --- Generated from one list ---------------------------------------------------------------------
def test_committed_scripts_match_the_step_list():
    result = subprocess.run(
        [sys.executable, "template/scripts/prod/generate.py", "--check"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_swarm_scripts_exist_only_in_a_swarm_project_and_generate_py_agrees(
    rendered_project, swarm_project
):
    for name in [f"{s}{suffix}" for s in SWARM_SCRIPTS for suffix in (".sh", ".bat")]:
        assert (swarm_project / PROD / name).is_file(), name
        assert not (rendered_project / PROD / name).exists(), name
    for name in SWARM_HELPERS:
        assert (swarm_project / PROD / name).is_file(), name
        assert not (rendered_project / PROD / name).exists(), name
    # The project's own generate.py (which its docs tell the operator to run) finds its scripts
    # up to date in both modes: it writes the swarm ones only beside stack.yaml.
    for project, count in ((rendered_project, 20), (swarm_project, 32)):
        result = subprocess.run(
            [sys.executable, str(PROD / "generate.py"), "--check"],
            cwd=project,
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert f"checked {count} scripts" in result.stdout


def sh_commands(text: str) -> list[str]:
    commands = []
    for line in text.splitlines():
        if match := re.match(r"^(?:\w+=\$\()?((?:ssh|scp|tar) .+?)\)? \|\| die ", line):
            commands.append(match[1])
        elif match := re.match(r'^sh "\$\(dirname "\$0"\)/(\w+)\.sh" \|\| die ', line):
            commands.append(f"run {match[1]}")
    return commands


def bat_commands(text: str) -> list[str]:
    commands = []
    for line in text.split("\r\n"):
        # A command whose output a variable receives writes it to a file first (>"!CAPTURED!").
        if match := re.match(r'^((?:ssh|scp|tar) .+?)(?: >"!CAPTURED!")?$', line):
            commands.append(re.sub(r"!(\w+)!", r"${\1}", match[1]))
        elif match := re.match(r'^call "!HERE!(\w+)\.bat"$', line):
            commands.append(f"run {match[1]}")
    return commands


@pytest.mark.parametrize("script", [s for s in SCRIPTS if s != "config"])
def test_bat_and_sh_twins_run_the_same_commands_in_the_same_order(project_of, script):
    sh = (project_of(script) / PROD / f"{script}.sh").read_text()
    bat = (project_of(script) / PROD / f"{script}.bat").read_bytes().decode()
    assert sh_commands(sh), f"no command found in {script}.sh"
    assert sh_commands(sh) == bat_commands(bat)
    # Every command is followed by a check that stops the .bat at the first failure, negative
    # exit codes included (`if errorlevel 1` is false for them).
    lines = bat.split("\r\n")
    for i, line in enumerate(lines):
        if re.match(r"^(ssh|scp|tar|call|where) ", line):
            assert lines[i + 1].startswith("if %errorlevel% neq 0 "), (script, line)
    assert "errorlevel 1" not in bat


def test_bat_messages_end_without_a_stray_space(project_of):
    for script in SCRIPTS:
        bat = (project_of(script) / PROD / f"{script}.bat").read_bytes().decode()
        for line in bat.split("\r\n"):
            assert not (line.lstrip().startswith(("echo", ">&2 echo")) and line.endswith(" ")), (
                script,
                line,
            )


def test_deploy_all_runs_the_five_steps_in_order(rendered_project):
    sh = (rendered_project / PROD / "deploy_all.sh").read_text()
    assert sh_commands(sh) == [f"run {step}" for step in DEPLOY_STEPS]


def test_scripts_exist_as_twins_with_their_line_endings_and_modes(rendered_project, project_of):
    for script in SCRIPTS:
        sh = project_of(script) / PROD / f"{script}.sh"
        bat = project_of(script) / PROD / f"{script}.bat"
        assert b"\r" not in sh.read_bytes(), sh
        assert bat.read_bytes().count(b"\n") == bat.read_bytes().count(b"\r\n"), bat
        assert sh.stat().st_mode & stat.S_IXUSR, f"{sh} is not executable"
    config = (rendered_project / PROD / "config.env").read_text()
    for key in (
        "SSH_HOST=203.0.113.10",
        "SSH_USER=debian",
        "SSH_PORT=22",
        "SSL_DOMAIN=clo-so.com",
        "SSL_EMAIL=admin@clo-so.com",
        "REMOTE_DIR=/opt/closo",
    ):
        assert key in config.splitlines()
