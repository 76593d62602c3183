"""Write the deploy scripts of this folder, as .sh (POSIX sh, LF) and .bat (Windows, CRLF) twins.

Usage: python3 scripts/prod/generate.py [--check]

Both twins come from the one list of steps below, so they run the same commands in the same order;
`--check` exits 1 if a script on disk differs from what this list produces (the template's tests
run it). Edit this file, never the generated scripts, then run it again.

What runs on the server is remote.sh (uploaded by every script): the twins only check the operator's
machine, pack and upload files with tar/scp, and call remote.sh over ssh with the step's actions.

The swarm_* twins (deploy_mode=swarm) exist only in a project that has stack.yaml: in the template
their names carry Copier's condition, as the stack file's does, so a deploy_mode=server project
has none of them and `copier update --data deploy_mode=swarm` adds them.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
TOTAL = 5
# Local folder (relative to the project root) for the archives on their way to the server.
OUTBOX = ".deploy"
EXCLUDES = ("__pycache__", "*.py[cod]", ".venv", ".pytest_cache", ".ruff_cache", "node_modules")


@dataclass(frozen=True)
class Step:
    """One deploy step: what it uploads and the remote.sh actions that follow."""

    script: str
    number: int
    what: str
    paths: tuple[str, ...]
    actions: tuple[str, ...]


# The template's settings and the site's own (docs/update.md): every step uploads both.
SETTINGS = ("settings.env", "settings.site.env")

# {slug} is the project's folder of services (PROJECT_SLUG in config). "install" unpacks the
# step's upload on the server; "require:SERVICE@SCRIPT" stops early when a dependency is down.
# A table reads better here than one argument a line.
# fmt: off
DEPLOY_STEPS = (
    Step("deploy_bdd", 1, "PostgreSQL database", ("compose.yaml", *SETTINGS),
         ("env", "install", "up:db")),
    Step("deploy_slave_storage", 2, "storage service",
         ("compose.yaml", *SETTINGS, "{slug}/storage"),
         ("env", "install", "build:storage", "up:storage", "reload-edge")),
    Step("deploy_backend", 3, "backend API (migrations first, then the API)",
         ("compose.yaml", *SETTINGS, "{slug}/backend"),
         ("env", "install", "require:db@deploy_bdd", "require:storage@deploy_slave_storage",
          "build:backend", "prestart:backend", "up:backend", "reload-edge")),
    Step("deploy_frontend_no_port", 4, "frontend (static site, no published port)",
         ("compose.yaml", *SETTINGS, "{slug}/frontend"),
         ("env", "install", "build:frontend", "up:frontend", "reload-edge")),
    Step("deploy_ssl", 5, "nginx edge and certbot (HTTPS, first certificate if none)",
         ("compose.yaml", *SETTINGS, "{slug}/nginx", "{slug}/certbot"),
         ("env", "install", "require:backend@deploy_backend",
          "require:storage@deploy_slave_storage", "require:frontend@deploy_frontend_no_port",
          "build:nginx", "build:certbot", "certificate", "up:certbot")),
)
# fmt: on


# --- Operations: each renders to one command (or a few lines) in sh and in bat ----------------
@dataclass(frozen=True)
class Say:
    text: str


@dataclass(frozen=True)
class NeedEnv:
    """The local .env must exist: it holds the secrets the server needs."""


@dataclass(frozen=True)
class MakeDir:
    """A local folder (relative to the project root) that must exist."""

    path: str


@dataclass(frozen=True)
class NeedTools:
    tools: tuple[str, ...]


@dataclass(frozen=True)
class Cmd:
    """A command that reaches the server (ssh/scp) or packs an upload (tar); stops on failure."""

    argv: str  # in the neutral syntax: ${VAR} for variables
    error: str
    capture: str = ""  # variable receiving the command's last line of stdout


@dataclass(frozen=True)
class Confirm:
    prompt: str
    expected: str  # variable the answer must equal


@dataclass(frozen=True)
class NeedArg:
    variable: str
    usage: str
    pattern: str  # characters the argument is made of (validated on both systems)


@dataclass(frozen=True)
class RunScript:
    script: str


@dataclass(frozen=True)
class Script:
    name: str
    usage: str
    about: str
    ops: tuple[object, ...]


SSH = 'ssh ${SSH_OPTS} -p "${SSH_PORT}" "${SSH_USER}@${SSH_HOST}"'
SCP = 'scp ${SSH_OPTS} -P "${SSH_PORT}"'
REMOTE = "${SCP_HOST}:${REMOTE_DIR}"  # scp target (IPv6 addresses in brackets)
HELPER = "sh ${REMOTE_DIR}/.deploy/remote.sh"
UNREACHABLE = (
    "cannot reach ${SSH_USER}@${SSH_HOST} port ${SSH_PORT} over ssh: check SSH_HOST, "
    "SSH_PORT, SSH_USER in config and your key (SSH_OPTS), then try 'ssh -p ${SSH_PORT} "
    "${SSH_USER}@${SSH_HOST}'."
)


def reach_server() -> Cmd:
    return Cmd(f'{SSH} "mkdir -p ${{REMOTE_DIR}}/.deploy"', UNREACHABLE)


def send_helper(*extra: str) -> Cmd:
    files = " ".join(("scripts/prod/remote.sh", *extra))
    return Cmd(
        f'{SCP} {files} "{REMOTE}/.deploy/"',
        "uploading to ${REMOTE_DIR} failed: is the disk full, or the folder not writable "
        "by ${SSH_USER}?",
    )


def deploy_script(step: Step) -> Script:
    paths = tuple(p.replace("{slug}", "${PROJECT_SLUG}") for p in step.paths)
    quoted = " ".join(f'"{p}"' for p in paths)
    archive = f"{step.script}.tar.gz"
    install = f"install:{archive}:{'+'.join(paths)}"
    actions = " ".join(install if a == "install" else a for a in step.actions)
    excludes = " ".join(f'"--exclude={e}"' for e in EXCLUDES)
    tag = f"[{step.number}/{TOTAL}] {step.what}"
    return Script(
        step.script,
        step.script,
        f"{tag}: deploys it to the server over SSH.",
        (
            NeedTools(("ssh", "scp", "tar")),
            NeedEnv(),
            MakeDir(OUTBOX),
            Say(f"{tag}: deploying to ${{SSH_USER}}@${{SSH_HOST}}:${{REMOTE_DIR}}"),
            reach_server(),
            Cmd(
                f"tar -czf {OUTBOX}/{archive} {excludes} {quoted}",
                "packing " + " ".join(paths) + " failed: are you in an intact project folder?",
            ),
            send_helper(f"{OUTBOX}/{archive}"),
            Cmd(
                f'{SSH} "{HELPER} {actions}" < .env',
                f"{step.script} failed on the server (reason above): fix it, then run "
                f"{step.script} again.",
            ),
            Say(f"{tag}: done, healthy on ${{SSH_HOST}}."),
        ),
    )


def deploy_all() -> Script:
    return Script(
        "deploy_all",
        "deploy_all",
        "Deploys the whole stack, the five steps in order; stops at the first failure.",
        tuple(RunScript(s.script) for s in DEPLOY_STEPS)
        + (
            Say(
                "Deployed database, storage, backend, frontend and HTTPS edge to "
                "${SSH_HOST}: https://${SSL_DOMAIN}/"
            ),
        ),
    )


def status() -> Script:
    return Script(
        "status",
        "status",
        "Shows the containers and their health, the certificate's days left and the volumes' disk "
        "use; exits 1 if anything is unhealthy.",
        (
            NeedTools(("ssh", "scp")),
            Say("Status of ${SSH_HOST}:${REMOTE_DIR}"),
            reach_server(),
            send_helper(),
            Cmd(
                f'{SSH} "{HELPER} status"',
                "the server reports a problem (FAIL above): run the deploy script of that service, "
                "or read its log with 'docker compose logs SERVICE' on the server.",
            ),
            Say("All services healthy."),
        ),
    )


def backup() -> Script:
    return Script(
        "backup",
        "backup",
        "Dumps the database (pg_dump) and archives the storage volume on the server, then "
        "downloads both to backups/NAME on this machine.",
        (
            NeedTools(("ssh", "scp")),
            MakeDir("backups"),
            Say("Backing up ${SSH_HOST}:${REMOTE_DIR}"),
            reach_server(),
            send_helper(),
            Cmd(
                f'{SSH} "{HELPER} backup"',
                "the backup failed on the server (reason above).",
                capture="BACKUP_NAME",
            ),
            Cmd(
                f'{SCP} -r "{REMOTE}/backups/${{BACKUP_NAME}}" backups/',
                "downloading backups/${BACKUP_NAME} failed: it is still on the server in "
                "${REMOTE_DIR}/backups.",
            ),
            Say("Backup saved in backups/${BACKUP_NAME} (db.dump, storage.tar.gz)."),
        ),
    )


def restore() -> Script:
    return Script(
        "restore",
        "restore NAME",
        "Replaces the server's database and stored files with the local backup backups/NAME, "
        "after a confirmation.",
        (
            NeedTools(("ssh", "scp")),
            NeedArg(
                "BACKUP_NAME",
                "restore NAME (a folder of backups/, e.g. 20250101-120000)",
                "0123456789-",
            ),
            Confirm(
                "This REPLACES the database and all stored files on ${SSH_HOST} with "
                "backups/${BACKUP_NAME}. Type the domain ${SSL_DOMAIN} to go on: ",
                "SSL_DOMAIN",
            ),
            reach_server(),
            Cmd(f'{SSH} "mkdir -p ${{REMOTE_DIR}}/backups"', UNREACHABLE),
            send_helper(),
            Cmd(
                f'{SCP} -r "backups/${{BACKUP_NAME}}" "{REMOTE}/backups/"',
                "uploading backups/${BACKUP_NAME} failed: is the disk of the server full?",
            ),
            Cmd(
                f'{SSH} "{HELPER} restore:${{BACKUP_NAME}}"',
                "the restore failed on the server (reason above).",
            ),
            Say("Restored backups/${BACKUP_NAME} on ${SSH_HOST}."),
        ),
    )


# --- Docker Swarm (deploy_mode=swarm, stack.yaml): the server side is remote_swarm.sh -----------
# Every swarm script talks to the swarm's manager (SSH_HOST): the node labelled for the edge and
# the database by swarm_init. .env still travels on stdin to remote.sh's `env` action.
SWARM_HELPER = "PROJECT_SLUG=${PROJECT_SLUG} sh ${REMOTE_DIR}/.deploy/remote_swarm.sh"
SWARM_UPLOAD = ("stack.yaml", "compose.yaml", *SETTINGS, "{slug}")


def swarm_script(name: str, usage: str, about: str, *ops: object) -> Script:
    return Script(name, usage, about, (NeedTools(("ssh", "scp")), *ops))


def swarm_init() -> Script:
    return swarm_script(
        "swarm_init",
        "swarm_init",
        "Makes the server a Docker Swarm manager (once), labels it as the node of the edge and "
        "the database, and prints the command that adds more servers to the swarm.",
        Say("Swarm on ${SSH_HOST}"),
        reach_server(),
        send_helper("scripts/prod/remote_swarm.sh"),
        Cmd(
            f'{SSH} "{SWARM_HELPER} swarm-init"',
            "swarm_init failed on the server (reason above).",
        ),
        Say("${SSH_HOST} is the swarm's manager: run swarm_deploy next."),
    )


def swarm_deploy() -> Script:
    paths = tuple(p.replace("{slug}", "${PROJECT_SLUG}") for p in SWARM_UPLOAD)
    quoted = " ".join(f'"{p}"' for p in paths)
    archive = "swarm_deploy.tar.gz"
    excludes = " ".join(f'"--exclude={e}"' for e in EXCLUDES)
    return Script(
        "swarm_deploy",
        "swarm_deploy",
        "Deploys or updates the whole stack on the swarm: builds the images on the manager, "
        "pushes them to SWARM_REGISTRY, runs docker stack deploy and waits for every replica.",
        (
            NeedTools(("ssh", "scp", "tar")),
            NeedEnv(),
            MakeDir(OUTBOX),
            Say("Deploying the stack to the swarm of ${SSH_USER}@${SSH_HOST}:${REMOTE_DIR}"),
            reach_server(),
            Cmd(
                f"tar -czf {OUTBOX}/{archive} {excludes} {quoted}",
                "packing " + " ".join(paths) + " failed: is this a project generated with "
                "deploy_mode=swarm (stack.yaml)?",
            ),
            send_helper(f"{OUTBOX}/{archive}", "scripts/prod/remote_swarm.sh"),
            Cmd(
                f'{SSH} "{HELPER} env install:{archive}:{"+".join(paths)} && '
                f'{SWARM_HELPER} images stack-deploy stack-certificate" < .env',
                "swarm_deploy failed on the server (reason above): fix it, then run swarm_deploy "
                "again.",
            ),
            Say("Deployed the stack to the swarm of ${SSH_HOST}: https://${SSL_DOMAIN}/"),
        ),
    )


def swarm_status() -> Script:
    return swarm_script(
        "swarm_status",
        "swarm_status",
        "Shows every service of the stack, its replicas and the node of each task; exits 1 if a "
        "service runs fewer tasks than it should.",
        Say("Stack on ${SSH_HOST}"),
        reach_server(),
        send_helper("scripts/prod/remote_swarm.sh"),
        Cmd(
            f'{SSH} "{SWARM_HELPER} stack-status"',
            "the swarm reports a problem (FAIL above): run swarm_deploy, or read a service's log "
            "with 'docker service logs SERVICE' on the manager.",
        ),
        Say("Every service runs its replicas."),
    )


def swarm_scale() -> Script:
    return swarm_script(
        "swarm_scale",
        "swarm_scale SERVICE REPLICAS",
        "Sets the number of tasks of backend, storage or frontend and waits until they run.",
        NeedArg(
            "SERVICE",
            "swarm_scale SERVICE REPLICAS (backend, storage or frontend)",
            "abcdefgknorst",
        ),
        NeedArg("REPLICAS", "swarm_scale SERVICE REPLICAS (a number, e.g. 3)", "0123456789"),
        Say("Scaling ${SERVICE} to ${REPLICAS} on ${SSH_HOST}"),
        reach_server(),
        send_helper("scripts/prod/remote_swarm.sh"),
        Cmd(
            f'{SSH} "{SWARM_HELPER} stack-scale:${{SERVICE}}=${{REPLICAS}}"',
            "scaling failed on the server (reason above).",
        ),
        Say("${SERVICE} runs ${REPLICAS} tasks."),
    )


def swarm_backup() -> Script:
    return swarm_script(
        "swarm_backup",
        "swarm_backup",
        "Dumps the database and archives the stored files (the bucket's objects with "
        "STORAGE_BACKEND=s3) on the manager, then downloads both to backups/NAME.",
        MakeDir("backups"),
        Say("Backing up the stack on ${SSH_HOST}"),
        reach_server(),
        send_helper("scripts/prod/remote_swarm.sh", "scripts/prod/bucket_archive.py"),
        Cmd(
            f'{SSH} "{SWARM_HELPER} stack-backup"',
            "the backup failed on the server (reason above).",
            capture="BACKUP_NAME",
        ),
        Cmd(
            f'{SCP} -r "{REMOTE}/backups/${{BACKUP_NAME}}" backups/',
            "downloading backups/${BACKUP_NAME} failed: it is still on the server in "
            "${REMOTE_DIR}/backups.",
        ),
        Say("Backup saved in backups/${BACKUP_NAME} (db.dump, storage.tar.gz)."),
    )


def swarm_restore() -> Script:
    return swarm_script(
        "swarm_restore",
        "swarm_restore NAME",
        "Replaces the stack's database and stored files (the bucket's objects with "
        "STORAGE_BACKEND=s3) with the local backup backups/NAME, after a confirmation.",
        NeedArg(
            "BACKUP_NAME",
            "swarm_restore NAME (a folder of backups/, e.g. 20250101-120000)",
            "0123456789-",
        ),
        Confirm(
            "This REPLACES the database and all stored files of the stack on ${SSH_HOST} with "
            "backups/${BACKUP_NAME}. Type the domain ${SSL_DOMAIN} to go on: ",
            "SSL_DOMAIN",
        ),
        reach_server(),
        Cmd(f'{SSH} "mkdir -p ${{REMOTE_DIR}}/backups"', UNREACHABLE),
        send_helper("scripts/prod/remote_swarm.sh", "scripts/prod/bucket_archive.py"),
        Cmd(
            f'{SCP} -r "backups/${{BACKUP_NAME}}" "{REMOTE}/backups/"',
            "uploading backups/${BACKUP_NAME} failed: is the disk of the server full?",
        ),
        Cmd(
            f'{SSH} "{SWARM_HELPER} stack-restore:${{BACKUP_NAME}}"',
            "the restore failed on the server (reason above).",
        ),
        Say("Restored backups/${BACKUP_NAME} on the stack of ${SSH_HOST}."),
    )


def swarm_scripts() -> tuple[Script, ...]:
    return (
        swarm_init(),
        swarm_deploy(),
        swarm_status(),
        swarm_scale(),
        swarm_backup(),
        swarm_restore(),
    )


def all_scripts() -> tuple[Script, ...]:
    return (
        *(deploy_script(s) for s in DEPLOY_STEPS),
        deploy_all(),
        status(),
        backup(),
        restore(),
        *swarm_scripts(),
    )


# --- POSIX sh -------------------------------------------------------------------------------------
def sh_text(text: str) -> str:
    """A double-quoted sh string whose ${VAR} expand."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("`", "\\`") + '"'


def render_sh(script: Script) -> str:
    lines = [
        "#!/bin/sh",
        f"### Usage: scripts/prod/{script.usage.replace(script.name, script.name + '.sh', 1)}",
        "###",
        f"### {script.about}",
        "### Settings in config.sh; any of them can be set in the environment for one run, e.g.",
        "###   SSH_OPTS='-i ~/.ssh/deploy_key' scripts/prod/" + script.name + ".sh",
        "### Generated by generate.py with its .bat twin from one list of steps: edit that.",
        "set -eu",
        "# shellcheck source=config.sh",
        '. "$(dirname "$0")/config.sh"',
        'cd "$(dirname "$0")/../.."',
        "",
        'die() { printf "  [x] %s\\n" "$*" >&2; exit 1; }',
        "",
    ]
    position = 0  # of the next NeedArg among the script's arguments
    for op in script.ops:
        position += isinstance(op, NeedArg)
        lines.extend(_sh_op(op, position))
    return "\n".join(lines) + "\n"


def _sh_op(op: object, position: int = 1) -> list[str]:
    if isinstance(op, Say):
        return [f"echo {sh_text(op.text)}"]
    if isinstance(op, NeedTools):
        return [
            f"command -v {t} >/dev/null 2>&1 || die {sh_text(_missing_tool(t))}" for t in op.tools
        ]
    if isinstance(op, NeedEnv):
        return [
            f"[ -f .env ] || die {sh_text(_MISSING_ENV)}",
            "# No ._ files from macOS tar.",
            "export COPYFILE_DISABLE=1",
        ]
    if isinstance(op, MakeDir):
        return [f"mkdir -p {op.path}"]
    if isinstance(op, NeedArg):
        return [
            f'{op.variable}="${{{position}:-}}"',
            f'case "${{{op.variable}}}" in',
            f'    "" | *[!{op.pattern}]*) die {sh_text("usage: " + op.usage)} ;;',
            "esac",
        ]
    if isinstance(op, Confirm):
        return [
            f"printf '%s' {sh_text(op.prompt)}",
            "read -r answer || answer=",
            f'[ "$answer" = "${{{op.expected}}}" ] || die "not confirmed: nothing changed."',
        ]
    if isinstance(op, RunScript):
        return [
            f'sh "$(dirname "$0")/{op.script}.sh" || die '
            + sh_text(
                f"{op.script} failed: fix the problem above, then run {op.script}.sh "
                "and the steps after it (or deploy_all.sh again)."
            )
        ]
    if isinstance(op, Cmd):
        prefix = (
            "# shellcheck disable=SC2086 # SSH_OPTS holds several options\n"
            if "${SSH_OPTS}" in op.argv
            else ""
        )
        if op.capture:
            return [
                f"{prefix}{op.capture}=$({op.argv}) || die {sh_text(op.error)}",
                f'[ -n "${{{op.capture}}}" ] || die {sh_text(op.error)}',
            ]
        return [f"{prefix}{op.argv} || die {sh_text(op.error)}"]
    raise TypeError(op)


# --- Windows batch --------------------------------------------------------------------------------
# The body of every .bat runs with delayed expansion: !VAR! is expanded after cmd has parsed the
# line, so & | < > ( ) " in a value (a typed answer, a backup name, a setting) stay plain text.
# Arguments and config.bat are read before it is on, while a ! in them is still plain text too.
# Every check is `if %errorlevel% neq 0`: `if errorlevel 1` is false for negative exit codes, such
# as the 0xC000013A of an ssh.exe stopped by Ctrl+C. Every failure goes to :failed, which pauses
# only when the window was opened by a double-click, so the error can be read before it closes.
def bat_vars(text: str) -> str:
    """${VAR} -> !VAR! (delayed expansion)."""
    out, rest = "", text
    while "${" in rest:
        head, _, tail = rest.partition("${")
        name, _, rest = tail.partition("}")
        out += head + f"!{name}!"
    return out + rest


def bat_echo(text: str) -> str:
    """Text for `echo`, also inside a parenthesised block: cmd's special characters escaped."""
    if "!" in text.replace("${", "").replace("}", ""):
        raise ValueError(f"a literal ! would be expanded in the .bat: {text!r}")
    text = text.replace("%", "%%")
    for char in "^&|<>()":
        text = text.replace(char, "^" + char)
    return bat_vars(text)


def _bat_fail_if(condition: str, message: str, *cleanup: str) -> list[str]:
    """Stop with `  [x] message` on stderr when `condition` (an `if` or a `for`) holds."""
    return [
        f"{condition} (",
        *(f"    {line}" for line in cleanup),
        f"    >&2 echo   [x] {bat_echo(message)}",
        "    goto :failed",
        ")",
    ]


def _bat_check(message: str, *cleanup: str) -> list[str]:
    """Stop unless the command just run exited 0 (negative codes included)."""
    return _bat_fail_if("if %errorlevel% neq 0", message, *cleanup)


def render_bat(script: Script) -> str:
    usage = script.usage.replace(script.name, script.name + ".bat", 1)
    arguments = [
        f'set "{op.variable}=%~{i}"'
        for i, op in enumerate((op for op in script.ops if isinstance(op, NeedArg)), start=1)
    ]
    lines = [
        "@echo off",
        f"rem Usage: scripts\\prod\\{usage}",
        "rem",
        f"rem {script.about.replace('%', '%%')}",
        "rem Settings in config.bat; any of them can be set in the environment for one run, e.g.",
        'rem   set "SSH_OPTS=-i %USERPROFILE%\\.ssh\\deploy_key"',
        "rem Generated by generate.py with its .sh twin from one list of steps: edit that.",
        "setlocal EnableExtensions DisableDelayedExpansion",
        'rem Kept before any cd: started as "name.bat" without a folder, %~dp0 can change',
        "rem after one.",
        'set "HERE=%~dp0"',
        'set "SCRIPT=%~f0"',
        *arguments,
        'call "%HERE%config.bat"',
        "if %errorlevel% neq 0 goto :failed",
        "setlocal EnableDelayedExpansion",
        'cd /d "!HERE!..\\.."',
        "",
    ]
    for op in script.ops:
        lines.extend(_bat_op(op))
    lines += [
        "exit /b 0",
        "",
        ":failed",
        "rem A window opened by a double-click (Explorer runs cmd /c with this script as its",
        "rem argument) closes at exit: pause so the error can be read. Never in a terminal (its",
        "rem command line does not name this script) nor in CI; with no input, pause returns",
        "rem at once.",
        "if defined CI exit /b 1",
        "setlocal EnableDelayedExpansion",
        'set "LAUNCHED_BY=!CMDCMDLINE!"',
        "if not defined LAUNCHED_BY exit /b 1",
        'if /i "!LAUNCHED_BY:%SCRIPT%=!"=="!LAUNCHED_BY!" exit /b 1',
        "pause",
        "exit /b 1",
    ]
    return "\r\n".join(lines) + "\r\n"


def _bat_op(op: object) -> list[str]:
    if isinstance(op, Say):
        return [f"echo {bat_echo(op.text)}"]
    if isinstance(op, NeedTools):
        lines = []
        for tool in op.tools:
            lines += [f"where {tool} >nul 2>nul", *_bat_check(_missing_tool(tool))]
        return lines
    if isinstance(op, NeedEnv):
        return _bat_fail_if("if not exist .env", _MISSING_ENV)
    if isinstance(op, MakeDir):
        return [f"if not exist {op.path} mkdir {op.path}"]
    if isinstance(op, NeedArg):
        # The argument was read into the variable at the top. Each allowed character is removed
        # from a copy of it: anything left is another character. (One line per character: in a
        # loop, Wine's cmd expands !REST:%%c=! before %%c; the `if defined` guards are needed
        # because an undefined variable with :x= expands to the text "x=".)
        if not op.pattern.replace("-", "").replace("_", "").isalnum():
            raise ValueError(f"pattern {op.pattern!r}: letters, digits, - and _ only")
        usage = "usage: " + op.usage
        return [
            *_bat_fail_if(f"if not defined {op.variable}", usage),
            f'set "REST=!{op.variable}!"',
            *(f'if defined REST set "REST=!REST:{char}=!"' for char in op.pattern),
            *_bat_fail_if("if defined REST", usage),
        ]
    if isinstance(op, Confirm):
        return [
            'set "ANSWER="',
            f'set /p "ANSWER={bat_vars(op.prompt)}"',
            *_bat_fail_if(
                f'if not "!ANSWER!"=="!{op.expected}!"', "not confirmed: nothing changed."
            ),
        ]
    if isinstance(op, RunScript):
        return [
            f'call "!HERE!{op.script}.bat"',
            *_bat_check(
                f"{op.script} failed: fix the problem above, then run {op.script}.bat "
                "and the steps after it (or deploy_all.bat again)."
            ),
        ]
    if isinstance(op, Cmd):
        argv = bat_vars(op.argv)
        if op.capture:
            # A for /f loop would hide the command's exit code: its output goes to a file instead.
            # The server prints the value as its only line of stdout.
            return [
                f'set "{op.capture}="',
                f'set "CAPTURED=!TEMP!\\closo-{op.capture}-!RANDOM!.txt"',
                f'{argv} >"!CAPTURED!"',
                *_bat_check(op.error, 'del "!CAPTURED!" 2>nul'),
                f'set /p "{op.capture}=" <"!CAPTURED!"',
                'del "!CAPTURED!"',
                *_bat_fail_if(f"if not defined {op.capture}", op.error),
            ]
        return [argv, *_bat_check(op.error)]
    raise TypeError(op)


_MISSING_ENV = (
    ".env not found in the project folder: it holds the secrets the server needs. "
    "Restore it from your copy, or rebuild it from .env.example with new secrets."
)


def _missing_tool(tool: str) -> str:
    return (
        f"'{tool}' not found: install the OpenSSH client and tar "
        "(built into Windows 10+, packages openssh-client and tar elsewhere)."
    )


# --- config.sh / config.bat: load config.env, the environment winning --------------------------
SETTINGS = (
    "SSH_HOST",
    "SSH_USER",
    "SSH_PORT",
    "SSH_OPTS",
    "SSL_DOMAIN",
    "SSL_EMAIL",
    "REMOTE_DIR",
    "PROJECT_SLUG",
)
OPTIONAL = ("SSH_OPTS",)


def config_sh() -> str:
    lines = [
        "# shellcheck shell=sh",
        "# Sourced by the deploy scripts: loads config.env, where a variable already set in the",
        "# environment wins. Generated by generate.py with its .bat twin: edit that, not this.",
        "config_value() {",
        '    sed -n "s/^$1=//p" "$(dirname "$0")/config.env" | tr -d \'\\r\' | tail -n 1',
        "}",
    ]
    for name in SETTINGS:
        lines.append(f': "${{{name}:=$(config_value {name})}}"')
        if name not in OPTIONAL:
            lines.append(
                f'[ -n "${{{name}}}" ] || {{ echo "  [x] {name} is missing in '
                'scripts/prod/config.env." >&2; exit 1; }'
            )
    lines += [
        "# scp needs an IPv6 address in brackets.",
        "# shellcheck disable=SC2034 # used by the scripts that source this file",
        'case "${SSH_HOST}" in',
        '    *:*) SCP_HOST="${SSH_USER}@[${SSH_HOST}]" ;;',
        '    *) SCP_HOST="${SSH_USER}@${SSH_HOST}" ;;',
        "esac",
    ]
    return "\n".join(lines) + "\n"


def config_bat() -> str:
    lines = [
        "@echo off",
        "rem Called by the deploy scripts: loads config.env, where a variable already set in the",
        "rem environment wins. Generated by generate.py with its .sh twin: edit that, not this.",
    ]
    for name in SETTINGS:
        lines.append(f"call :load {name}")
        if name not in OPTIONAL:
            lines += [
                f"if not defined {name} (",
                f"    >&2 echo   [x] {name} is missing in scripts\\prod\\config.env.",
                "    exit /b 1",
                ")",
            ]
    lines += [
        "rem scp needs an IPv6 address in brackets (a host name or IPv4 address has no colon).",
        'set "SCP_HOST=%SSH_USER%@%SSH_HOST%"',
        'if not "%SSH_HOST::=%"=="%SSH_HOST%" set "SCP_HOST=%SSH_USER%@[%SSH_HOST%]"',
        "exit /b 0",
        "",
        ":load",
        "if defined %1 exit /b 0",
        'for /f "usebackq eol=# tokens=1,* delims==" %%a in ("%~dp0config.env") do '
        'if "%%a"=="%1" set "%1=%%b"',
        "exit /b 0",
    ]
    return "\r\n".join(lines) + "\r\n"


# --- Files ---------------------------------------------------------------------------------------
ROOT = HERE.parent.parent
# Copier's tags, spelled in two pieces so that this file holds no unrendered Jinja.
TAG_OPEN, TAG_CLOSE = "{" + "%", "%" + "}"
SWARM_CONDITION = f"{TAG_OPEN} if deploy_mode == 'swarm' {TAG_CLOSE}"
SWARM_END = f"{TAG_OPEN} endif {TAG_CLOSE}"
TEMPLATE_STACK_FILE = f"{SWARM_CONDITION}stack.yaml{SWARM_END}.jinja"


def swarm_file_name(name: str) -> str | None:
    """The file name of a swarm script here: plain beside stack.yaml (a deploy_mode=swarm
    project), with Copier's condition in the template, None in a deploy_mode=server project."""
    if (ROOT / "stack.yaml").exists():
        return name
    if (ROOT / TEMPLATE_STACK_FILE).exists():
        return SWARM_CONDITION + name + SWARM_END
    return None


def expected_files() -> dict[Path, bytes]:
    files: dict[Path, bytes] = {
        HERE / "config.sh": config_sh().encode(),
        HERE / "config.bat": config_bat().encode(),
    }
    swarm = {script.name for script in swarm_scripts()}
    for script in all_scripts():
        for suffix, render in ((".sh", render_sh), (".bat", render_bat)):
            name = script.name + suffix
            if script.name in swarm and (name := swarm_file_name(name)) is None:
                continue
            files[HERE / name] = render(script).encode()
    return files


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for path, content in expected_files().items():
        if path.exists() and path.read_bytes() == content:
            continue
        stale.append(path.name)
        if not check:
            path.write_bytes(content)
            if path.name.removesuffix(SWARM_END).endswith(".sh"):
                path.chmod(0o755)
    if check and stale:
        print("out of date (run python3 scripts/prod/generate.py): " + ", ".join(stale))
        return 1
    print(("checked " if check else "wrote ") + f"{len(expected_files())} scripts")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
