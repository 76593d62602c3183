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
from support.project import REPO_ROOT, read_env, render

PROD = Path("scripts/prod")
DEPLOY_STEPS = [
    "deploy_bdd",
    "deploy_slave_storage",
    "deploy_backend",
    "deploy_frontend_no_port",
    "deploy_ssl",
]
# One name each, the same script in both deploy modes (DEPLOY_MODE in config.env decides).
OPERATIONS = [
    *DEPLOY_STEPS,
    "deploy_all",
    "status",
    "backup",
    "restore",
    "upgrade_db",
    "site_remove",
]
# No meaning on one server: only in a deploy_mode=swarm project.
SWARM_ONLY = ["swarm_init", "swarm_scale"]
# The names of the last release: each only says which operation to run now.
RENAMED = {
    "swarm_deploy": "deploy_all",
    "swarm_status": "status",
    "swarm_backup": "backup",
    "swarm_restore": "restore",
}
SCRIPTS = [*OPERATIONS, *SWARM_ONLY, "config"]
# The server side of the swarm mode, also only in a deploy_mode=swarm project.
SWARM_HELPERS = ["remote/swarm.sh", "remote/bucket_archive.py"]


@pytest.fixture(scope="module")
def swarm_project(session_tmp: Path) -> Path:
    return render(session_tmp / "scripts-swarm", deploy_mode="swarm")


@pytest.fixture
def project_of(rendered_project: Path, swarm_project: Path):
    """The rendered project that has `script`: the swarm ones exist with deploy_mode=swarm only."""
    return lambda script: (
        swarm_project if script in SWARM_ONLY or script in RENAMED else rendered_project
    )


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
    swarm_scripts = [*SWARM_ONLY, *RENAMED]
    for name in [f"{s}{suffix}" for s in swarm_scripts for suffix in (".sh", ".bat")]:
        assert (swarm_project / PROD / name).is_file(), name
        assert not (rendered_project / PROD / name).exists(), name
    for name in SWARM_HELPERS:
        assert (swarm_project / PROD / name).is_file(), name
        assert not (rendered_project / PROD / name).exists(), name
    # The project's own generate.py (which its docs tell the operator to run) finds its scripts
    # up to date in both modes: it writes the swarm ones only beside stack.yaml.
    for project, count in ((rendered_project, 24), (swarm_project, 36)):
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
        # Indented: inside an `if` (a step that runs only when a local folder exists).
        if match := re.match(r"^\s*(?:\w+=\$\()?((?:ssh|scp|tar) .+?)\)? \|\| die ", line):
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
    for script in [*SCRIPTS, *RENAMED]:
        bat = (project_of(script) / PROD / f"{script}.bat").read_bytes().decode()
        for line in bat.split("\r\n"):
            assert not (line.lstrip().startswith(("echo", ">&2 echo")) and line.endswith(" ")), (
                script,
                line,
            )


def server_actions(script: Path) -> list[str]:
    """The remote.sh actions a script runs on the server (its last ssh command)."""
    run = [c for c in sh_commands(script.read_text()) if "/.deploy/remote.sh " in c][-1]
    return run.split("/.deploy/remote.sh ", 1)[1].split('"')[0].split()


def test_deploy_all_runs_the_five_steps_actions_in_order_in_one_run(rendered_project):
    """One upload and one run on the server: each step's actions, in the steps' order, without
    the checks of a dependency that an earlier step just deployed."""
    deploy_all = server_actions(rendered_project / PROD / "deploy_all.sh")
    assert deploy_all[0] == "env" and deploy_all[1].startswith("install:deploy_all.tar.gz:")
    expected, deployed = [], set()
    for step in DEPLOY_STEPS:
        env, install, *actions = server_actions(rendered_project / PROD / f"{step}.sh")
        assert (env, install.split(":")[0]) == ("env", "install")
        for action in actions:
            if action.startswith("require:") and action[8:].split("@")[0] in deployed:
                continue
            expected.append(action)
            if action.startswith("up:"):
                deployed.add(action[3:])
    assert deploy_all[2:] == expected
    assert expected.index("up:db") < expected.index("up:backend") < expected.index("certificate")


def test_each_operation_has_one_name_and_one_script_in_both_modes(rendered_project, swarm_project):
    """The operations' scripts are byte for byte the same in a deploy_mode=server and a
    deploy_mode=swarm project: the mode is config.env's DEPLOY_MODE, which they pass to
    remote.sh. The swarm-only operations exist in the swarm project only."""
    for script in OPERATIONS:
        for suffix in (".sh", ".bat"):
            server = (rendered_project / PROD / f"{script}{suffix}").read_bytes()
            assert server == (swarm_project / PROD / f"{script}{suffix}").read_bytes(), script
        assert (
            "DEPLOY_MODE=${DEPLOY_MODE} " in (rendered_project / PROD / f"{script}.sh").read_text()
        )
    modes = [
        read_env(project / PROD / "config.env")["DEPLOY_MODE"]
        for project in (rendered_project, swarm_project)
    ]
    assert modes == ["server", "swarm"]
    named = {p.name.split(".")[0] for p in (swarm_project / PROD).glob("*.sh")}
    assert named == {*OPERATIONS, *SWARM_ONLY, *RENAMED, "config", "remote"}


@pytest.mark.parametrize("old", RENAMED)
def test_an_old_swarm_name_only_says_which_operation_to_run(swarm_project, old):
    """`copier update` from a project that had the swarm_* scripts: each stays for one release,
    runs no command and exits 1 naming the operation to run now."""
    sh = (swarm_project / PROD / f"{old}.sh").read_text()
    bat = (swarm_project / PROD / f"{old}.bat").read_bytes().decode()
    assert sh_commands(sh) == bat_commands(bat) == []
    result = subprocess.run(
        ["sh", str(swarm_project / PROD / f"{old}.sh")],
        capture_output=True,
        text=True,
        timeout=30,
        env={"PATH": "/usr/bin:/bin"},  # no ssh needed: it stops before any command
    )
    assert result.returncode == 1
    assert result.stderr == (
        f"  [x] {old} is now {RENAMED[old]}, the same operation on one server and on a swarm: "
        f"run {RENAMED[old]}.\n"
    )
    assert result.stdout == ""


def test_scripts_exist_as_twins_with_their_line_endings_and_modes(rendered_project, project_of):
    for script in [*SCRIPTS, *RENAMED]:
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
