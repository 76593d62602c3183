"""The list of operations: one name each, the same scripts in both deploy modes.

Every operation uploads what it needs and runs ../remote.sh on the server with its actions; the
mode (DEPLOY_MODE in config.env, the deploy_mode answer) travels with them and decides what runs
there: docker compose on one server, one `docker stack deploy` on a swarm. swarm_init and
swarm_scale have no meaning on one server and stay swarm-only: making a server a swarm manager
opens it to other machines, a step an operator takes once and on purpose, never as a side effect
of a deploy; the number of tasks is a swarm's own knob. The swarm_* names of the last release
only say which operation to run now (RENAMED).
"""

from __future__ import annotations

from dataclasses import dataclass

from .ops import (
    Cmd,
    Confirm,
    IfDir,
    IfExists,
    MakeDir,
    NeedArg,
    NeedEnv,
    NeedTools,
    Say,
    Script,
    Stop,
)


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
    Step("deploy_bdd", 1, "PostgreSQL database and its backups",
         ("compose.yaml", *SETTINGS, "{slug}/db", "{slug}/backup"),
         ("env", "install", "build:db", "up:db", "build:backup", "up:backup")),
    Step("deploy_slave_storage", 2, "storage service",
         ("compose.yaml", *SETTINGS, "{slug}/storage"),
         ("env", "install", "build:storage", "up:storage", "reload-edge")),
    Step("deploy_backend", 3, "backend API (migrations first, then the API) and mailer",
         ("compose.yaml", *SETTINGS, "{slug}/backend"),
         ("env", "install", "require:db@deploy_bdd", "require:storage@deploy_slave_storage",
          "build:backend", "prestart:backend", "up:backend", "up:mailer", "reload-edge")),
    Step("deploy_frontend_no_port", 4, "frontend (static site, no published port)",
         ("compose.yaml", *SETTINGS, "{slug}/frontend"),
         ("env", "install", "build:frontend", "up:frontend", "reload-edge")),
    # The watcher comes last, with the edge it checks the certificate of.
    Step("deploy_ssl", 5, "nginx edge and certbot (HTTPS, first certificate if none), watcher",
         ("compose.yaml", *SETTINGS, "{slug}/nginx", "{slug}/certbot", "{slug}/watcher"),
         ("env", "install", "require:backend@deploy_backend",
          "require:storage@deploy_slave_storage", "require:frontend@deploy_frontend_no_port",
          "build:nginx", "build:certbot", "certificate", "up:certbot", "build:watcher",
          "up:watcher")),
)
# fmt: on
TOTAL = len(DEPLOY_STEPS)
# Uploaded by every deploy when the project has it (the swarm's overlay of compose.yaml).
OPTIONAL_PATHS = ("stack.yaml",)
# Local folder (relative to the project root) for the archives on their way to the server.
OUTBOX = ".deploy"
EXCLUDES = ("__pycache__", "*.py[cod]", ".venv", ".pytest_cache", ".ruff_cache", "node_modules")
# The old name of an operation -> its name now (kept for one release, then removed).
RENAMED = {
    "swarm_deploy": "deploy_all",
    "swarm_status": "status",
    "swarm_backup": "backup",
    "swarm_restore": "restore",
}

SSH = 'ssh ${SSH_OPTS} -p "${SSH_PORT}" "${SSH_USER}@${SSH_HOST}"'
SCP = 'scp ${SSH_OPTS} -P "${SSH_PORT}"'
REMOTE = "${SCP_HOST}:${REMOTE_DIR}"  # scp target (IPv6 addresses in brackets)
HELPER = (
    "DEPLOY_MODE=${DEPLOY_MODE} PROJECT_SLUG=${PROJECT_SLUG} sh ${REMOTE_DIR}/.deploy/remote.sh"
)
UNREACHABLE = (
    "cannot reach ${SSH_USER}@${SSH_HOST} port ${SSH_PORT} over ssh: check SSH_HOST, "
    "SSH_PORT, SSH_USER in config and your key (SSH_OPTS), then try 'ssh -p ${SSH_PORT} "
    "${SSH_USER}@${SSH_HOST}'."
)


def reach_server() -> Cmd:
    return Cmd(f'{SSH} "mkdir -p ${{REMOTE_DIR}}/.deploy"', UNREACHABLE)


def send_helper(*extra: str) -> Cmd:
    """remote.sh and its parts (remote/), with the operation's upload if any."""
    files = " ".join(("scripts/prod/remote.sh", "scripts/prod/remote", *extra))
    return Cmd(
        f'{SCP} -r {files} "{REMOTE}/.deploy/"',
        "uploading to ${REMOTE_DIR} failed: is the disk full, or the folder not writable "
        "by ${SSH_USER}?",
    )


def deploy(name: str, tag: str, paths: tuple[str, ...], actions: tuple[str, ...]) -> tuple:
    """The operations of a deploy: check, pack, upload, run `actions` after env and install."""
    paths = tuple(p.replace("{slug}", "${PROJECT_SLUG}") for p in paths)
    quoted = " ".join(f'"{p}"' for p in paths)
    archive = f"{name}.tar.gz"
    install = f"install:{archive}:{'+'.join(paths)}:{'+'.join(OPTIONAL_PATHS)}"
    excludes = " ".join(f'"--exclude={e}"' for e in EXCLUDES)
    return (
        NeedTools(("ssh", "scp", "tar")),
        NeedEnv(),
        MakeDir(OUTBOX),
        Say(f"{tag}: deploying to ${{SSH_USER}}@${{SSH_HOST}}:${{REMOTE_DIR}}"),
        reach_server(),
        *(IfExists("OPTIONAL_FILES", p) for p in OPTIONAL_PATHS),
        Cmd(
            f"tar -czf {OUTBOX}/{archive} {excludes} {quoted} ${{OPTIONAL_FILES}}",
            "packing " + " ".join(paths) + " failed: are you in an intact project folder?",
        ),
        send_helper(f"{OUTBOX}/{archive}"),
        Cmd(
            f'{SSH} "{HELPER} env {install} {" ".join(actions)}" < .env',
            f"{name} failed on the server (reason above): fix it, then run {name} again.",
        ),
    )


def deploy_script(step: Step) -> Script:
    tag = f"[{step.number}/{TOTAL}] {step.what}"
    actions = tuple(a for a in step.actions if a not in ("env", "install"))
    return Script(
        step.script,
        step.script,
        f"{tag}: deploys it to the server over SSH.",
        (
            *deploy(step.script, tag, step.paths, actions),
            Say(f"{tag}: done, healthy on ${{SSH_HOST}}."),
        ),
    )


def deploy_all() -> Script:
    """The five steps' uploads in one, their actions in order in one run on the server (a
    dependency deployed by an earlier step needs no check); on a swarm, one stack deploy."""
    paths: list[str] = []
    actions: list[str] = []
    deployed: set[str] = set()
    for step in DEPLOY_STEPS:
        paths += [p for p in step.paths if p not in paths]
        for action in step.actions:
            service = action.partition(":")[2].partition("@")[0]
            checked_already = action.startswith("require:") and service in deployed
            if action in ("env", "install") or checked_already:
                continue
            actions.append(action)
            if action.startswith("up:"):
                deployed.add(service)
    return Script(
        "deploy_all",
        "deploy_all",
        "Deploys the whole stack: the five steps' actions in order on one server, or one update "
        "of the stack on a swarm; stops at the first failure.",
        (
            *deploy("deploy_all", "The whole stack", tuple(paths), tuple(actions)),
            Say(
                "Deployed database, storage, backend, frontend, HTTPS edge and watcher to "
                "${SSH_HOST}: https://${SSL_DOMAIN}/"
            ),
        ),
    )


def remote_script(name: str, usage: str, about: str, *ops: object, swarm_only=False) -> Script:
    return Script(name, usage, about, (NeedTools(("ssh", "scp")), *ops), swarm_only)


def status() -> Script:
    return remote_script(
        "status",
        "status",
        "Shows every service and its health (on a swarm: its replicas and the node of each "
        "task), the certificate's days left and the disk use; exits 1 if anything is unhealthy.",
        Say("Status of ${SSH_HOST}:${REMOTE_DIR}"),
        reach_server(),
        send_helper(),
        Cmd(
            f'{SSH} "{HELPER} status"',
            "the server reports a problem (FAIL above): run the deploy script of that service, "
            "or read its log on the server (docker compose logs SERVICE, or docker service logs "
            "on a swarm).",
        ),
        Say("All services healthy."),
    )


def backup() -> Script:
    return remote_script(
        "backup",
        "backup",
        "Dumps the database (pg_dump) and archives the stored files (the bucket's objects "
        "with STORAGE_BACKEND=s3 on a swarm) on the server, then downloads both to "
        "backups/NAME on this machine.",
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
    )


# A restore names a copy on this machine (backups/NAME, made by `backup`), or the state of the
# server's backup repository (issue 25): its latest, or a moment in UTC. The server checks the
# exact form; here only the characters, so that nothing else reaches the ssh command line.
RESTORE_USAGE = (
    "restore NAME, restore latest or restore TIME: NAME a folder of backups/ such as "
    "20250101-120000; latest the last state in the backup repository; TIME a moment in UTC "
    "such as 2026-12-06T14:03:00Z"
)


def restore() -> Script:
    return remote_script(
        "restore",
        "restore NAME|latest|TIME",
        "Replaces the server's database and stored files, after a confirmation: with the local "
        "backup backups/NAME, or from the backup repository with its latest state or their "
        "state at TIME (UTC, e.g. 2026-12-06T14:03:00Z). CONFIRM_DOMAIN=<the domain> answers "
        "the confirmation for unattended runs.",
        NeedArg("BACKUP_NAME", RESTORE_USAGE, "0123456789:TZlaest-"),
        Confirm(
            "This REPLACES the database and all stored files on ${SSH_HOST} with "
            "${BACKUP_NAME}. Type the domain ${SSL_DOMAIN} to go on: ",
            "SSL_DOMAIN",
            preset="CONFIRM_DOMAIN",
        ),
        reach_server(),
        IfDir(
            "backups/${BACKUP_NAME}",
            (
                Cmd(f'{SSH} "mkdir -p ${{REMOTE_DIR}}/backups"', UNREACHABLE),
                Cmd(
                    f'{SCP} -r "backups/${{BACKUP_NAME}}" "{REMOTE}/backups/"',
                    "uploading backups/${BACKUP_NAME} failed: is the disk of the server full?",
                ),
            ),
        ),
        send_helper(),
        Cmd(
            f'{SSH} "{HELPER} restore:${{BACKUP_NAME}}"',
            "the restore failed on the server (reason above).",
        ),
        Say("Restored ${BACKUP_NAME} on ${SSH_HOST}."),
    )


def upgrade_db() -> Script:
    """The db and backup images are built for the version of the answer first (the running
    database keeps its own image meanwhile), then remote/backups.sh moves the data."""
    tag = "Database upgrade"
    return Script(
        "upgrade_db",
        "upgrade_db",
        "Moves the database to the PostgreSQL major version of the postgres_version answer "
        "(POSTGRES_VERSION in settings.env): a backup first, then a dump of the running "
        "database restored into a new volume named after the version; the old volume stays "
        "until you remove it. Run again after switching the answer back to return to it.",
        (
            *deploy(
                "upgrade_db",
                tag,
                ("compose.yaml", *SETTINGS, "{slug}/db", "{slug}/backup"),
                ("build:db", "build:backup", "upgrade-db"),
            ),
            Say("${SSH_HOST} runs the PostgreSQL version of settings.env."),
        ),
    )


def site_remove() -> Script:
    return remote_script(
        "site_remove",
        "site_remove keep|delete",
        "Takes this site off the server after a confirmation: off the shared edge first (the "
        "other sites keep serving), then its containers and network; its database and files "
        "stay on the server (keep) or are deleted (delete).",
        NeedArg(
            "SITE_DATA",
            "site_remove keep|delete (keep: the database and the files stay on the server)",
            "deklpt",
        ),
        Confirm(
            "This REMOVES the site ${SSL_DOMAIN} from ${SSH_HOST} (its data: ${SITE_DATA}). "
            "Type the domain ${SSL_DOMAIN} to go on: ",
            "SSL_DOMAIN",
        ),
        reach_server(),
        send_helper(),
        Cmd(
            f'{SSH} "{HELPER} site-remove:${{SITE_DATA}}"',
            "site_remove failed on the server (reason above).",
        ),
        Say("${SSL_DOMAIN} is removed from ${SSH_HOST} (its data: ${SITE_DATA})."),
    )


# --- Docker Swarm only ---------------------------------------------------------------------------
def swarm_init() -> Script:
    return remote_script(
        "swarm_init",
        "swarm_init",
        "Makes the server a Docker Swarm manager (once), labels it as the node of the edge and "
        "the database, and prints the command that adds more servers to the swarm.",
        Say("Swarm on ${SSH_HOST}"),
        reach_server(),
        send_helper(),
        Cmd(f'{SSH} "{HELPER} swarm-init"', "swarm_init failed on the server (reason above)."),
        Say("${SSH_HOST} is the swarm's manager: run deploy_all next."),
        swarm_only=True,
    )


def swarm_scale() -> Script:
    return remote_script(
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
        send_helper(),
        Cmd(
            f'{SSH} "{HELPER} stack-scale:${{SERVICE}}=${{REPLICAS}}"',
            "scaling failed on the server (reason above).",
        ),
        Say("${SERVICE} runs ${REPLICAS} tasks."),
        swarm_only=True,
    )


def renamed(old: str, new: str) -> Script:
    return Script(
        old,
        old,
        f"Renamed {new} (one name in both deploy modes): this script only says so, and goes "
        "away in the next release.",
        (Stop(f"{old} is now {new}, the same operation on one server and on a swarm: run {new}."),),
        swarm_only=True,
    )


def all_scripts() -> tuple[Script, ...]:
    return (
        *(deploy_script(s) for s in DEPLOY_STEPS),
        deploy_all(),
        status(),
        backup(),
        restore(),
        upgrade_db(),
        site_remove(),
        swarm_init(),
        swarm_scale(),
        *(renamed(old, new) for old, new in RENAMED.items()),
    )
