"""The Windows deploy scripts (scripts/prod/*.bat) run under a real cmd, beside their .sh twins.

Real: cmd.exe, where.exe and findstr.exe are Wine 10's (Debian 13), run by Wine; the .sh twins
run under the machine's sh. Stand-ins: ssh, scp and tar (tests/support/wine/standin.c as .exe for
the .bat, standin.sh for the .sh) log their arguments and working folder, and exit with a chosen
code (255: ssh cannot connect; 1: the remote command failed; 0xC000013A: an ssh.exe stopped by
Ctrl+C or crashed, a negative code for cmd, a SIGINT for sh). So each test proves what a user
sees and what would reach the server, not the server itself (test_deploy.py runs the .sh over a
real sshd).

What Wine cannot show: real cmd's bug with LF-only files (labels and `goto` land in the wrong
place; the CRLF rule of test_deploy_scripts.py and the generated .gitattributes guard it); `%~dp0`
after a `cd` when a script is started as "name.bat" without a folder (the scripts keep it in HERE
before any cd); aborting on a syntax error; and %CMDCMDLINE%, which Wine 10's cmd does not set: the
double-click tests set it to the line Windows' cmd reports for a double-click (Explorer starts
`cmd.exe /c ""<script>" "`), and start the script with that same line.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from support.project import render
from support.wine.fixtures import Wine, windows_path, wine  # noqa: F401 (the fixture)

pytestmark = pytest.mark.windows

INTERRUPTED = "0xC000013A"  # STATUS_CONTROL_C_EXIT: negative as a cmd errorlevel
DOMAIN = "clo-so.com"  # the default answer: the domain the restore confirmation asks for
BACKUP = "20250101-120000"
SERVER_BACKUP = "20250102-030405"  # what the server answers to `remote.sh backup`
DEPLOY_STEPS = (
    "deploy_bdd",
    "deploy_slave_storage",
    "deploy_backend",
    "deploy_frontend_no_port",
    "deploy_ssl",
)
# ssh/scp/tar calls of a successful run (checked by the success test).
CALLS = {**dict.fromkeys(DEPLOY_STEPS, 4), "deploy_all": 4, "status": 3, "backup": 4}
CALLS["restore"] = 5  # with a local copy backups/NAME: uploaded first
CALLS["upgrade_db"] = 4
CALLS["site_remove"] = 3
# deploy_mode=swarm's own scripts (only in such a project: the projects here are rendered with it).
CALLS.update(swarm_init=3, swarm_scale=3)
SCRIPTS = tuple(CALLS)
# The names of the last release, which only say which operation to run now.
RENAMED = {
    "swarm_deploy": "deploy_all",
    "swarm_status": "status",
    "swarm_backup": "backup",
    "swarm_restore": "restore",
}
DONE = ("done, healthy", "Deployed ", "All services healthy", "Backup saved", "Restored ")
DONE += ("runs the PostgreSQL version",)
DONE += ("swarm's manager", " tasks.", " is removed from ")


@dataclass
class Project:
    root: Path

    @property
    def prod(self) -> Path:
        return self.root / "scripts" / "prod"


@pytest.fixture(scope="module")
def projects(session_tmp: Path) -> dict[str, Project]:
    """The project rendered with deploy_mode=swarm (the operations' scripts are the same in both
    modes, the swarm_* ones exist only in it) at a plain path, at one with spaces and
    parentheses, and at one with an & in a folder's name."""
    rendered_project = render(session_tmp / "windows-source", deploy_mode="swarm")
    made = {}
    for name, path in (
        ("plain", session_tmp / "windows" / "plain" / "shop"),
        ("spaces", session_tmp / "windows" / "My Projects (2025)" / "shop (copy)"),
        ("ampersand", session_tmp / "windows" / "R&D" / "shop"),
    ):
        shutil.copytree(rendered_project, path)
        (path / ".env").write_text("POSTGRES_PASSWORD=not-a-real-secret\n")
        (path / "backups" / BACKUP).mkdir(parents=True)
        made[name] = Project(path)
    return made


@pytest.fixture
def project(projects: dict[str, Project]) -> Project:
    return projects["spaces"]


@dataclass
class Outcome:
    code: int
    calls: list[str]
    stdout: str
    errors: list[str]  # the `[x]` lines on stderr
    stderr: str = ""  # all of it, shown when an assertion on the outcome fails


def _outcome(result, log: Path) -> Outcome:
    calls = []
    if log.exists():
        for line in log.read_text().splitlines():
            folder, rest = line.split("\t", 1)
            if folder.startswith("Z:"):
                folder = folder[2:].replace("\\", "/")
            calls.append(f"{folder}\t{rest}")
        log.unlink()
    stderr = result.stderr.decode(errors="replace").replace("\r\n", "\n")
    return Outcome(
        code=result.returncode,
        calls=calls,
        stdout=result.stdout.decode(errors="replace").replace("\r\n", "\n"),
        errors=[line for line in stderr.splitlines() if line.startswith("  [x] ")],
        stderr=stderr,
    )


def _quote(arg: str) -> str:
    return f'"{arg}"'


@dataclass
class Twins:
    wine: Wine
    tmp: Path

    def bat(
        self,
        project: Project,
        script: str,
        *args: str,
        command: str | None = None,
        cwd: Path | None = None,
        answer: str | None = None,
        stdin: bytes | None = None,
        env: dict[str, str] | None = None,
    ) -> Outcome:
        """Run <script>.bat as typed in a terminal in the project folder (or `command` in `cwd`)."""
        log = self.tmp / "bat.log"
        line = command or " ".join([rf"scripts\prod\{script}.bat", *map(_quote, args)])
        if stdin is None:
            stdin = b"" if answer is None else answer.encode() + b"\r\n"
        result = self.wine.run(
            line, cwd=cwd or project.root, log=log, stdin=stdin, env=_env(script, env)
        )
        return _outcome(result, log)

    def sh(
        self,
        project: Project,
        script: str,
        *args: str,
        answer: str | None = None,
        env: dict[str, str] | None = None,
    ) -> Outcome:
        log = self.tmp / "sh.log"
        stdin = b"" if answer is None else answer.encode() + b"\n"
        result = self.wine.run_sh(
            project.prod / f"{script}.sh",
            *args,
            cwd=project.root,
            log=log,
            stdin=stdin,
            env=_env(script, env),
        )
        return _outcome(result, log)


def _env(script: str, env: dict[str, str] | None) -> dict[str, str]:
    base = {"STANDIN_STDOUT": SERVER_BACKUP} if script == "backup" else {}
    return {**base, **(env or {})}


def _args(script: str) -> tuple[tuple[str, ...], str | None]:
    """Arguments and confirmation answer of a run that should succeed."""
    if script == "restore":
        return (BACKUP,), DOMAIN
    if script == "site_remove":
        return ("keep",), DOMAIN
    return (("backend", "3"), None) if script == "swarm_scale" else ((), None)


@pytest.fixture
def twins(wine: Wine, tmp_path: Path) -> Twins:  # noqa: F811 (the imported fixture)
    return Twins(wine, tmp_path)


@contextmanager
def _moved_away(path: Path) -> Iterator[None]:
    aside = path.with_name(path.name + ".aside")
    path.rename(aside)
    try:
        yield
    finally:
        aside.rename(path)


@contextmanager
def _config_with(project: Project, key: str, value: str) -> Iterator[None]:
    config = project.prod / "config.env"
    original = config.read_text()
    lines = [f"{key}={value}" if ln.startswith(f"{key}=") else ln for ln in original.splitlines()]
    config.write_text("\n".join(lines) + "\n")
    try:
        yield
    finally:
        config.write_text(original)


# --- Success: the same commands, in the same order, from the same folder -------------------------
@pytest.mark.parametrize("script", SCRIPTS)
def test_each_script_succeeds_and_sends_what_its_sh_twin_sends(twins, project, script):
    """Both twins, with stand-ins that succeed: exit 0, the same ssh/scp/tar calls (arguments as
    the tools receive them, from the project folder), the same lines on screen."""
    args, answer = _args(script)
    sh = twins.sh(project, script, *args, answer=answer)
    bat = twins.bat(project, script, *args, answer=answer)
    assert (sh.code, sh.errors) == (0, []), sh
    assert len(sh.calls) == CALLS[script]
    assert all(call.startswith(f"{project.root}\t") for call in sh.calls)
    assert (bat.code, bat.errors, bat.calls) == (0, [], sh.calls)
    assert bat.stdout == sh.stdout


def test_backup_saves_the_name_the_server_answered(twins, project):
    bat = twins.bat(project, "backup")
    assert bat.code == 0
    assert bat.calls[-1].endswith(f"/backups/{SERVER_BACKUP}\tbackups/")
    assert f"Backup saved in backups/{SERVER_BACKUP} " in bat.stdout


# --- Failures: the first failing command stops the script, with the .sh twin's status ------------
def _failure_cases() -> list:
    cases = []
    for script in SCRIPTS:
        cases += [(script, call, "255") for call in range(1, CALLS[script] + 1)]
        cases += [(script, CALLS[script], "1"), (script, CALLS[script], INTERRUPTED)]
    return [pytest.param(*case, id=f"{case[0]}-call{case[1]}-exit{case[2]}") for case in cases]


@pytest.mark.parametrize(("script", "failing_call", "code"), _failure_cases())
def test_a_failed_command_stops_the_script_as_its_sh_twin_does(
    twins, project, script, failing_call, code
):
    """The stand-in's Nth call exits with `code`: nothing after it runs, both twins exit 1 with
    the same `[x]` message, and nothing says done."""
    args, answer = _args(script)
    env = {"STANDIN_FAIL_AT": str(failing_call), "STANDIN_FAIL_CODE": code}
    sh = twins.sh(project, script, *args, answer=answer, env=env)
    bat = twins.bat(project, script, *args, answer=answer, env=env)
    assert len(sh.calls) == failing_call
    assert (sh.code, bat.code) == (1, 1)
    assert bat.calls == sh.calls, bat  # its stdout says where a run without calls stopped
    assert bat.errors == [error.replace(".sh", ".bat") for error in sh.errors] != []
    assert bat.stdout == sh.stdout
    assert not any(word in bat.stdout.splitlines()[-1] for word in DONE), bat.stdout


def test_deploy_all_stops_when_ssh_is_interrupted(twins, project):
    """ssh.exe stopped by Ctrl+C during the server's run (exit 0xC000013A, negative for cmd):
    deploy_all.bat says the deploy failed and what to do, and never says it deployed."""
    env = {"STANDIN_FAIL_AT": "4", "STANDIN_FAIL_CODE": INTERRUPTED}
    bat = twins.bat(project, "deploy_all", env=env)
    assert bat.code == 1
    assert len(bat.calls) == 4
    assert bat.errors[-1].startswith("  [x] deploy_all failed on the server (reason above)")
    assert "Deployed" not in bat.stdout


@pytest.mark.parametrize("old", RENAMED)
def test_an_old_swarm_name_says_which_operation_to_run_and_runs_nothing(twins, project, old):
    """The swarm_* scripts of the last release, as `copier update` leaves them: each stops with
    the name to run now, before any command, the same under cmd as under sh."""
    sh = twins.sh(project, old)
    bat = twins.bat(project, old)
    assert (sh.code, bat.code) == (1, 1)
    assert (sh.calls, bat.calls) == ([], [])
    assert (
        bat.errors
        == sh.errors
        == [
            f"  [x] {old} is now {RENAMED[old]}, the same operation on one server and on a swarm: "
            f"run {RENAMED[old]}."
        ]
    )


# --- What the operator's machine lacks ------------------------------------------------------------
@pytest.mark.parametrize("script", [*DEPLOY_STEPS, "deploy_all"])
def test_a_deploy_without_env_stops_before_reaching_the_server(twins, project, script):
    with _moved_away(project.root / ".env"):
        sh = twins.sh(project, script)
        bat = twins.bat(project, script)
    assert (sh.calls, bat.calls) == ([], [])
    assert (sh.code, bat.code) == (1, 1)
    assert bat.errors[0] == sh.errors[0]
    assert bat.errors[0].startswith("  [x] .env not found in the project folder")


@pytest.mark.parametrize("script", SCRIPTS)
def test_an_empty_ssh_host_stops_before_any_command(twins, project, script):
    args, answer = _args(script)
    with _config_with(project, "SSH_HOST", ""):
        sh = twins.sh(project, script, *args, answer=answer)
        bat = twins.bat(project, script, *args, answer=answer)
    assert (sh.calls, bat.calls) == ([], [])
    assert (sh.code, bat.code) == (1, 1)
    # Each names the file in its system's spelling.
    assert sh.errors == ["  [x] SSH_HOST is missing in scripts/prod/config.env."]
    assert bat.errors == [r"  [x] SSH_HOST is missing in scripts\prod\config.env."]


# --- Hostile input: compared and passed as plain text, never run ----------------------------------
HOSTILE_NAMES = [
    "1&echo INJECTED",
    "1|echo INJECTED",
    "1 & echo INJECTED",
    "1)&echo INJECTED&(",
    "!PATH!",
    "%PATH%",
    r"..\20250101",
    "../20250101",
    "2025 01",
    "1^",
    " 1",
]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_restore_refuses_a_hostile_backup_name_and_runs_nothing(twins, project, name):
    """Typed quoted in a terminal (restore.bat "<name>"): usage error, no command run, no call."""
    sh = twins.sh(project, "restore", name, answer=DOMAIN)
    bat = twins.bat(project, "restore", name, answer=DOMAIN)
    assert (sh.code, bat.code) == (1, 1)
    assert (sh.calls, bat.calls) == ([], [])
    assert bat.errors == sh.errors
    assert bat.errors[0].startswith("  [x] usage: restore NAME")
    assert "INJECTED" not in bat.stdout + bat.errors[0]


@pytest.mark.parametrize("moment", ["latest", "2026-12-06T14:03:00Z"])
def test_restore_from_the_repository_uploads_nothing_and_sends_the_moment(twins, project, moment):
    """`restore latest` or a moment (a colon in it, which cmd's substitution must handle),
    confirmed by CONFIRM_DOMAIN as a script would: no copy to upload, the server asked to restore
    from its repository; the same calls and lines under cmd as under sh."""
    env = {"CONFIRM_DOMAIN": DOMAIN}
    sh = twins.sh(project, "restore", moment, env=env)
    bat = twins.bat(project, "restore", moment, env=env)
    assert (sh.code, sh.errors) == (0, []), sh
    assert len(sh.calls) == 3 and f"remote.sh restore:{moment}" in sh.calls[-1], sh.calls
    assert (bat.code, bat.errors, bat.calls) == (0, [], sh.calls)
    assert bat.stdout == sh.stdout
    wrong = {"CONFIRM_DOMAIN": "example.org"}
    refused = (
        twins.sh(project, "restore", moment, env=wrong),
        twins.bat(project, "restore", moment, env=wrong),
    )
    assert [(r.code, r.calls, r.errors) for r in refused] == [
        (1, [], ["  [x] not confirmed: nothing changed."])
    ] * 2


def test_restore_refuses_an_unquoted_name_with_an_ampersand(twins, project):
    r"""Typed unquoted with cmd's escape (restore.bat 1^&echo INJECTED): cmd hands the script
    `1&echo` and `INJECTED`; the name is refused before anything runs."""
    bat = twins.bat(project, "restore", command=r"scripts\prod\restore.bat 1^&echo INJECTED")
    sh = twins.sh(project, "restore", "1&echo", "INJECTED", answer=DOMAIN)
    assert (sh.code, bat.code) == (1, 1)
    assert (sh.calls, bat.calls) == ([], [])
    assert bat.errors == sh.errors
    assert "INJECTED" not in bat.stdout


HOSTILE_ANSWERS = [
    "",
    "no",
    DOMAIN.upper(),
    '"',
    f'{DOMAIN}" == "{DOMAIN}',
    f'{DOMAIN}" & echo INJECTED & "',
    f"{DOMAIN}&echo INJECTED",
    "%SSL_DOMAIN%",
    "!SSL_DOMAIN!",
]


@pytest.mark.parametrize("answer", HOSTILE_ANSWERS)
def test_restore_refuses_a_wrong_or_hostile_confirmation(twins, project, answer):
    sh = twins.sh(project, "restore", BACKUP, answer=answer)
    bat = twins.bat(project, "restore", BACKUP, answer=answer)
    assert (sh.code, bat.code) == (1, 1)
    assert (sh.calls, bat.calls) == ([], [])
    assert bat.errors == sh.errors == ["  [x] not confirmed: nothing changed."]
    assert "INJECTED" not in bat.stdout


# --- Where it is started from ---------------------------------------------------------------------
def _verbatim(line: str) -> str:
    """`line` escaped so that the terminal's cmd starts it as is (as Explorer would)."""
    for char in '^&|<>()"':
        line = line.replace(char, "^" + char)
    return line


def _double_click(project: Project, script: str) -> tuple[str, dict[str, str]]:
    line = f'cmd.exe /c ""{windows_path(project.prod / f"{script}.bat")}" "'
    # What Windows' cmd reports for it (Wine 10's cmd does not set %CMDCMDLINE%).
    return _verbatim(line), {"CMDCMDLINE": rf"C:\windows\system32\{line}"}


def _starts(project: Project, elsewhere: Path) -> dict[str, tuple[str, Path, dict]]:
    script = windows_path(project.prod / "deploy_all.bat")
    return {
        "project-folder": (r"scripts\prod\deploy_all.bat", project.root, {}),
        "another-folder": (f'"{script}"', elsewhere, {}),
        "its-own-folder-without-a-path": ("deploy_all.bat", project.prod, {}),
        "double-click": (
            *_double_click(project, "deploy_all")[:1],
            project.prod,
            _double_click(project, "deploy_all")[1],
        ),
    }


@pytest.mark.parametrize("location", ["plain", "spaces", "ampersand"])
@pytest.mark.parametrize(
    "start", ["project-folder", "another-folder", "its-own-folder-without-a-path", "double-click"]
)
def test_deploy_all_works_from_wherever_it_is_started(twins, projects, tmp_path, location, start):
    """From the project folder, from another folder, from scripts\\prod as "deploy_all.bat", and
    as Explorer's double-click starts it; at a plain path, at one with spaces and parentheses and
    at one with an &: it sends what deploy_all.sh sends, from the project folder.
    Not covered: a double-click at a path with an &, because Wine 10's cmd /c splits
    `""<path with &>" "` at the & (Windows' cmd does not)."""
    if (start, location) == ("double-click", "ampersand"):
        pytest.skip("Wine 10's cmd /c splits a quoted path at its &: Windows' cmd does not")
    project = projects[location]
    command, cwd, env = _starts(project, tmp_path)[start]
    sh = twins.sh(project, "deploy_all")
    bat = twins.bat(project, "deploy_all", command=command, cwd=cwd, env=env, stdin=b"\r\n")
    assert (bat.code, bat.errors) == (0, [])
    assert bat.calls == sh.calls, bat  # its stdout says where a run without calls stopped
    assert bat.stdout == sh.stdout  # no pause after a success


# --- A double-clicked window stays open on an error, and only then --------------------------------
def test_a_double_clicked_script_waits_before_closing_on_an_error(twins, project):
    command, env = _double_click(project, "deploy_all")
    with _moved_away(project.root / ".env"):
        bat = twins.bat(
            project, "deploy_all", command=command, cwd=project.prod, env=env, stdin=b"\r\n"
        )
    assert bat.code == 1
    assert bat.errors[0].startswith("  [x] .env not found")
    assert "Press any key" in bat.stdout
    assert bat.stdout.count("Press any key") == 1  # deploy_all's, not the step's too


@pytest.mark.parametrize(
    "how",
    ["terminal", "ci", "no-input"],
)
def test_a_script_never_waits_in_a_terminal_or_under_automation(twins, project, how):
    """In a terminal (cmd's command line does not name the script), in CI (CI is set) the error
    closes nothing and no pause is asked; a double-click form with no input at all (a scheduler)
    does not hang: pause returns at end of input."""
    command, env = _double_click(project, "deploy_all")
    stdin = b""
    if how == "terminal":
        env = {"CMDCMDLINE": r'"C:\windows\system32\cmd.exe" '}
        command = f'"{windows_path(project.prod / "deploy_all.bat")}"'
    elif how == "ci":
        env["CI"] = "true"
    with _moved_away(project.root / ".env"):
        bat = twins.bat(
            project, "deploy_all", command=command, cwd=project.root, env=env, stdin=stdin
        )
    assert bat.code == 1
    assert bat.errors[0].startswith("  [x] .env not found")
    if how != "no-input":
        assert "Press any key" not in bat.stdout
