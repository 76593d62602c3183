#!/bin/sh
### Usage: DEPLOY_MODE=server|swarm PROJECT_SLUG=SLUG sh REMOTE_DIR/.deploy/remote.sh ACTION...
###
### The server side of the deploy scripts, for both deploy modes. The .bat and .sh scripts of this
### folder upload it with its parts (remote/) to REMOTE_DIR/.deploy/ and run it over ssh with the
### actions of their operation (see generator/steps.py), e.g.
###   remote.sh env install:deploy_backend.tar.gz:compose.yaml+settings.env+closo/backend:stack.yaml \
###     require:db@deploy_bdd build:backend prestart:backend up:backend reload-edge
### Actions run in order; the first failure stops the run with a message and exit status 1:
###   env                       .env from stdin (never replacing the secrets the stack runs with)
###   install:ARCHIVE:PATHS[:OPTIONAL]  unpack the upload and swap each path (+-separated) in
###   require:SERVICE@SCRIPT    stop unless SERVICE runs (SCRIPT deploys it)
###   build:SERVICE  prestart:SERVICE  up:SERVICE  reload-edge  certificate
###   status  backup  restore:NAME (a copy uploaded to backups/NAME)
###   restore:latest  restore:TIME (from the backup repository, remote/backups.sh)  upgrade-db
### The mode (DEPLOY_MODE, from scripts/prod/config.env) decides what they do: remote/server.sh
### runs them one by one with docker compose; remote/swarm.sh (a project with stack.yaml) builds
### and pushes the images named by build:, then after the last action deploys the stack once and
### waits for it. Swarm only: swarm-init, images, images-tag, stack-deploy, stack-scale:SERVICE=N.
### Environment: DEPLOY_WAIT_TIMEOUT (s, default 300); remote/swarm.sh lists its own.
### It runs on the server only (POSIX sh + docker), so Windows and Linux operators share it.
set -eu
umask 077

PARTS="$(cd "$(dirname "$0")" && pwd)/remote"
# REMOTE_DIR is the parent of the folder holding this script.
cd "$(dirname "$0")/.."
WAIT_TIMEOUT="${DEPLOY_WAIT_TIMEOUT:-300}"
MODE="${DEPLOY_MODE:-server}"

fail() {
    printf '  [x] %s\n' "$*" >&2
    exit 1
}

say() {
    printf '  - %s\n' "$*" >&2
}

# A value of settings.env, or of settings.site.env where the site sets it (tracked settings), or
# of the file named second, such as .env (secrets).
setting() {
    if [ "$#" -gt 1 ]; then
        sed -n "s/^$1=//p" "$2" | tail -n 1
    else
        cat settings.env settings.site.env 2>/dev/null | sed -n "s/^$1=//p" | tail -n 1
    fi
}

# Runs `command...` once a second while it exits 1 (not yet), for up to SECONDS; returns its
# status otherwise (0: done; any other: give up at once), or 1 after SECONDS.
poll() {
    poll_deadline=$(( $(date +%s) + $1 ))
    shift
    while :; do
        poll_status=0
        "$@" || poll_status=$?
        [ "$poll_status" -eq 1 ] || return "$poll_status"
        [ "$(date +%s)" -lt "$poll_deadline" ] || return 1
        sleep 1
    done
}

check_docker() {
    command -v docker >/dev/null 2>&1 \
        || fail "docker is not installed on the server: install Docker Engine (docs/deployment.md, 'Server')."
    docker compose version >/dev/null 2>&1 \
        || fail "the docker compose plugin is missing or docker is not usable by $(id -un): install docker-compose-plugin and add the user to the docker group."
}

check_env() {
    [ -s .env ] || fail ".env is missing in $(pwd): run a deploy script, which sends it."
}

# .env arrives on stdin (over the ssh channel): written atomically, readable by its owner only.
# It never replaces secrets the running stack depends on: PostgreSQL keeps the password it was
# created with, so a .env made elsewhere (a new clone, `stack.py secrets`) would lock the backend
# out of its database. Rotating a secret is a deliberate step (docs/deployment.md).
receive_env() {
    (umask 077 && cat > .env.incoming)
    [ -s .env.incoming ] || { rm -f .env.incoming; fail "received an empty .env: check the local .env."; }
    if [ -f .env ]; then
        # The backup key too, once the server has one: backups made with it need it to be read.
        for name in POSTGRES_PASSWORD SECRET_KEY STORAGE_TOKEN BACKUP_ENCRYPTION_KEY; do
            [ "$name" != BACKUP_ENCRYPTION_KEY ] || [ -n "$(setting "$name" .env)" ] || continue
            if [ "$(setting "$name" .env)" != "$(setting "$name" .env.incoming)" ]; then
                rm -f .env.incoming
                fail "your .env has another $name than the server's $(pwd)/.env, which the running stack uses: nothing was changed. Copy the server's .env to your project folder (scp) and run the step again; to rotate secrets, follow docs/deployment.md."
            fi
        done
    fi
    mv .env.incoming .env
    say ".env updated (mode 600)"
}

# install:ARCHIVE:PATH+PATH[:PATH+PATH]: unpack the upload aside, then swap each path in, so a
# path removed locally disappears on the server too and a broken upload leaves the old files in
# place. The paths after a second colon may be absent from the upload (stack.yaml exists in a
# deploy_mode=swarm project only): then they are removed here too.
install_paths() {
    archive="$1"
    [ -f ".deploy/$archive" ] || fail "upload .deploy/$archive not found: run the step again."
    rm -rf .deploy/staging
    mkdir -p .deploy/staging
    # umask 022 here, not the script's 077: the images copy these files as they are, and their
    # services run as an unprivileged user who must be able to read them.
    (umask 022 && tar -xzf ".deploy/$archive" -C .deploy/staging) \
        || fail "cannot unpack .deploy/$archive (disk full?)."
    swap_in required "$2"
    swap_in optional "$3"
    chmod -R go-w . 2>/dev/null || true
    rm -rf .deploy/staging ".deploy/$archive"
    say "installed $(echo "$2" | tr '+' ' ')"
}

swap_in() {
    old_ifs="$IFS"
    IFS='+'
    for path in $2; do
        case "$path" in
            /* | *..*) fail "refusing to install the unsafe path '$path'." ;;
        esac
        if [ -e ".deploy/staging/$path" ]; then
            mkdir -p "$(dirname "$path")"
            rm -rf "$path"
            mv ".deploy/staging/$path" "$path"
        elif [ "$1" = required ]; then
            fail "'$path' is missing from the upload."
        else
            rm -rf "$path"
        fi
    done
    IFS="$old_ifs"
}

# What a backup holds (pg_dump's custom format, the stored files as one archive) and how the
# files are put back: unpacked beside the current ones first, so a broken archive changes nothing,
# then swapped in. Run inside the db and storage containers, whose shell expands the variables.
# shellcheck disable=SC2016
PG_DUMP='pg_dump -U "$POSTGRES_USER" -d "$POSTGRES_DB" -Fc'
# shellcheck disable=SC2016
PG_RESTORE='pg_restore -U "$POSTGRES_USER" -d "$POSTGRES_DB" --clean --if-exists --no-owner --single-transaction'
FILES_OUT='tar -czf - -C /data .'
FILES_ASIDE='rm -rf /data/.restoring && mkdir /data/.restoring && tar -xzf - -C /data/.restoring'
FILES_DROP_ASIDE='rm -rf /data/.restoring'
# shellcheck disable=SC2016
FILES_SWAP='cd /data && find . -mindepth 1 -maxdepth 1 ! -name .restoring -exec rm -rf {} + && cd .restoring && for f in * .[!.]* ..?*; do if [ -e "$f" ]; then mv "$f" /data/; fi; done && cd /data && rmdir .restoring'

# pg_dump is a consistent snapshot; the files are archived after it, so every file the dump
# references is in the archive (files uploaded in between are harmless extras).
backup() {
    check_env
    backup_ready
    name="$(date -u +%Y%m%d-%H%M%S)"
    mkdir -p "backups/$name"
    say "dumping the database"
    in_db "$PG_DUMP" > "backups/$name/db.dump" || fail "pg_dump failed: is the database running? (status)"
    say "archiving the stored files"
    archive_files > "backups/$name/storage.tar.gz" || fail "archiving the stored files failed (output above): is storage running? (status)"
    # The only line on stdout: the local script reads the backup's name from it.
    echo "$name"
}

RESTORE_TIME_FORMAT="latest, or a moment in UTC written like 2026-12-06T14:03:00Z"

# restore:NAME puts back a copy made by `backup` (backups/NAME); restore:latest and
# restore:TIME restore from the backup service's repository (remote/backups.sh).
restore() {
    name="$1"
    case "$name" in
        latest | [0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9]Z)
            restore_from_repository "$name"
            return
            ;;
        "" | *[!0-9-]*)
            fail "'$name' is neither a backup name such as 20250101-120000 nor $RESTORE_TIME_FORMAT (UTC, to the second)."
            ;;
    esac
    [ -f "backups/$name/db.dump" ] && [ -f "backups/$name/storage.tar.gz" ] \
        || fail "backups/$name is missing or incomplete on the server: run restore $name from the project folder whose backups/ has it (or restore $RESTORE_TIME_FORMAT)."
    check_env
    backup_ready
    stop_writers
    unpack_files_aside < "backups/$name/storage.tar.gz" \
        || restart_and_fail "unpacking backups/$name/storage.tar.gz failed (output above); nothing was changed."
    say "restoring the database"
    in_db "$PG_RESTORE" < "backups/$name/db.dump" || {
        drop_files_aside || true
        restart_and_fail "pg_restore failed (output above); the database and the files are unchanged."
    }
    say "swapping the restored files in"
    swap_files_in "backups/$name/storage.tar.gz" \
        || fail "the database is restored but swapping the files failed (output above): run restore again."
    start_writers
}

# After a failed restore step that changed nothing: the site comes back as it was.
restart_and_fail() {
    start_writers
    fail "$1"
}

case "$MODE" in
    server | swarm) ;;
    *) fail "DEPLOY_MODE is '$MODE': set it to server or swarm in scripts/prod/config.env." ;;
esac
[ -f "$PARTS/$MODE.sh" ] \
    || fail "remote/$MODE.sh is missing: DEPLOY_MODE=$MODE in scripts/prod/config.env does not match this project (copier update --data deploy_mode=$MODE adds it)."
# shellcheck source=remote/server.sh
. "$PARTS/$MODE.sh"
# shellcheck source=remote/backups.sh
. "$PARTS/backups.sh"

main() {
    [ "$#" -gt 0 ] || fail "no action given (see the Usage lines at the top of this file)."
    check_docker
    for action in "$@"; do
        case "$action" in
            env) receive_env ;;
            install:*:*:*)
                rest="${action#install:}"
                paths="${rest#*:}"
                install_paths "${rest%%:*}" "${paths%%:*}" "${paths#*:}"
                ;;
            install:*:*)
                rest="${action#install:}"
                install_paths "${rest%%:*}" "${rest#*:}" ""
                ;;
            require:*@*)
                rest="${action#require:}"
                check_env
                require_running "${rest%%@*}" "${rest#*@}"
                ;;
            build:*) build "${action#build:}" ;;
            prestart:*) prestart "${action#prestart:}" ;;
            up:*) up "${action#up:}" ;;
            reload-edge) reload_edge ;;
            certificate) certificate ;;
            status) check_env; status ;;
            backup) backup ;;
            restore:*) restore "${action#restore:}" ;;
            upgrade-db) upgrade_db ;;
            *) mode_action "$action" || fail "unknown action '$action' in $MODE mode (see the Usage lines at the top of this file)." ;;
        esac
    done
    finish
}

main "$@"
