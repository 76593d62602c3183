# shellcheck shell=sh
# The operations on the data that need the whole server (DEPLOY_MODE=server): a restore from the
# backup service's repository (to its latest state or to a moment), a PostgreSQL major upgrade and
# its way back, and the backup line of `status`. Sourced by remote.sh after remote/server.sh,
# whose compose helpers (compose, services, up, poll, reload_edge) it uses.

PGDATA_PATH=/var/lib/postgresql/data

# Whether compose.yaml has the backup service (a project rendered before it existed has not).
has_backup_service() {
    services 2>/dev/null | grep -qx backup
}

# The id of a service's container, running or not (empty when none exists).
container_of() {
    compose ps --all --quiet "$1" 2>/dev/null | head -n 1
}

# The name of the volume mounted at PATH in CONTAINER (its mounts as JSON, one object a line).
volume_at() {
    docker inspect --format '{{json .Mounts}}' "$1" 2>/dev/null | tr '}' '\n' \
        | grep "\"Destination\":\"$2\"" | sed -n 's/.*"Name":"\([^"]*\)".*/\1/p' | head -n 1
}

# Runs `sh -c SCRIPT` as root in a throw-away container of the db's image with VOLUME:PATH pairs
# mounted: copying volumes needs no tool the server may lack, only Docker.
with_volumes() {
    script="$1"
    shift
    mounts=""
    for pair in "$@"; do mounts="$mounts -v $pair"; done
    # shellcheck disable=SC2086 # one -v option per pair
    docker run --rm --user 0 --entrypoint sh $mounts "$DB_IMAGE" -c "$script"
}

# A new volume holding a copy of VOLUME, named ASIDE (ownership and modes kept).
copy_volume() {
    docker volume create "$2" >/dev/null || return 1
    with_volumes 'cp -a /from/. /to/' "$1:/from:ro" "$2:/to"
}

# ASIDE, an earlier copy of VOLUME, made equal to it again: what is newer or new copied, what is
# gone removed. A restore copies the files aside once while the site still serves (the long part),
# and this while it is stopped: the stop then lasts as long as what changed since takes, not as
# long as the whole volume (files are written once, under new names).
catch_up_volume() {
    # shellcheck disable=SC2016 # expanded by the container's shell
    with_volumes 'cp -au /from/. /to/ && cd /to && find . -depth -mindepth 1 | while IFS= read -r f; do [ -e "/from/$f" ] || [ -L "/from/$f" ] || rm -rf "$f"; done' \
        "$1:/from:ro" "$2:/to"
}

# VOLUME's content replaced by the copy in ASIDE.
put_back_volume() {
    with_volumes 'find /to -mindepth 1 -maxdepth 1 -exec rm -rf {} + && cp -a /from/. /to/' \
        "$2:/from:ro" "$1:/to"
}

# --- restore latest | restore TIME ---------------------------------------------------------------
# The db and storage volumes are copied aside first (the restore writes into them in place:
# pgBackRest's delta restore, restic's restore and swap), so a failed restore puts them back and a
# successful one leaves them for the operator to remove once the site is checked.
restore_from_repository() {
    when="$1"
    [ "$MODE" = server ] \
        || fail "restore from the backup repository runs on one server (DEPLOY_MODE=server); on a swarm, follow docs/deployment.md, 'Backups and recovery'."
    check_env
    has_backup_service \
        || fail "compose.yaml has no backup service, so there is no repository to restore from: update the template (copier update) and run deploy_all, or restore a copy of backups/ with 'restore NAME'."
    db="$(container_of db)"
    storage="$(container_of storage)"
    [ -n "$db" ] && [ -n "$storage" ] \
        || fail "the database or storage container does not exist: run deploy_all first (on a new server too), then restore $when."
    DB_IMAGE="$(docker inspect --format '{{.Image}}' "$db")"
    db_volume="$(volume_at "$db" "$PGDATA_PATH")"
    files_volume="$(volume_at "$storage" /data)"
    stamp="$(date -u +%Y%m%d-%H%M%S)"
    db_aside="${db_volume}_before_restore_$stamp"
    files_aside="${files_volume}_before_restore_$stamp"
    began="$(date +%s)"
    say "copying the stored files aside while the site still serves (volume $files_aside)"
    if ! copy_volume "$files_volume" "$files_aside"; then
        docker volume rm "$files_aside" >/dev/null 2>&1 || true
        fail "copying the stored files aside failed (output above; disk full? 'df -h'); nothing was changed."
    fi
    say "stopping backend, storage, backup and db (the edge answers 503 meanwhile)"
    compose stop backend storage backup db >&2 || fail "stopping the services failed (output above)."
    down_since="$(date +%s)"
    say "keeping the current data aside: volumes $db_aside and $files_aside (what changed since the copy)"
    if ! { copy_volume "$db_volume" "$db_aside" && catch_up_volume "$files_volume" "$files_aside"; }; then
        docker volume rm "$db_aside" "$files_aside" >/dev/null 2>&1 || true
        start_all_and_fail "copying the current data aside failed (output above; disk full? 'df -h'); nothing was changed."
    fi
    set -- --time "$when"
    [ "$when" != latest ] || set --
    say "restoring the database to $when"
    run_backup "$db_volume:$PGDATA_PATH" restore-db "$@" \
        || put_back_and_fail "restoring the database failed"
    say "restoring the stored files to $when"
    # As root with the capabilities that keep the files' owners and modes.
    run_backup "$files_volume:/data" --user root --cap-add CHOWN --cap-add FOWNER \
        --cap-add DAC_OVERRIDE -- restore-files "$@" \
        || put_back_and_fail "restoring the stored files failed"
    start_site || put_back_and_fail "the restored site did not become healthy"
    back_since="$(date +%s)"
    (up backup) || fail "the site is restored and answers, but the backup service did not become healthy ('docker compose logs backup' on the server): run deploy_all to start it again."
    ended="$(date +%s)"
    say "restored to $when in $((ended - began)) s; the site's API and files were unavailable for $((back_since - down_since)) s"
    say "the data it replaced is kept in the volumes $db_aside and $files_aside: once you have checked the site, remove them with 'docker volume rm $db_aside $files_aside' on the server"
}

# `run_backup VOLUME:PATH [OPTION... --] SUBCOMMAND ARGS...`: the backup command in a one-off
# container of the backup service with VOLUME mounted read-write at PATH (its service stopped).
run_backup() {
    options="--volume $1"
    shift
    case " $* " in
        *" -- "*)
            while [ "$1" != -- ]; do options="$options $1"; shift; done
            shift
            ;;
    esac
    # shellcheck disable=SC2086 # options: words without spaces
    compose run --rm --no-deps -T $options backup backup "$@"
}

# The services a restore stopped, the site's first: db and storage need nothing of each other, so
# they start together (compose waits for both to be healthy, each check every 10 s), then the
# backend, which needs both. `up` stops the run on a failure: in a subshell here, so that the
# caller can still act.
start_site() {
    (db_volume_guard) || return 1
    say "starting db and storage and waiting until they are healthy (up to ${WAIT_TIMEOUT}s)"
    compose up -d --no-deps --wait --wait-timeout "$WAIT_TIMEOUT" db storage >&2 || return 1
    (up backend) || return 1
    reload_edge
}

start_all_and_fail() {
    { start_site && (up backup); } >&2 || true
    fail "$1"
}

put_back_and_fail() {
    say "$1: putting the data it replaced back"
    compose stop db storage >&2 || true
    if put_back_volume "$db_volume" "$db_aside" && put_back_volume "$files_volume" "$files_aside"; then
        docker volume rm "$db_aside" "$files_aside" >/dev/null 2>&1 || true
        start_all_and_fail "$1 (output above); the site runs on the data it had before: nothing was changed."
    fi
    fail "$1 (output above), and putting the data back failed too: the data before the restore is in the volumes $db_aside and $files_aside (docs/deployment.md, 'Backups and recovery')."
}

# --- status ----------------------------------------------------------------------------------------
# The backup service's own verdict: its first line, and the cause and fix when it says stale or
# failed (exit 1). Status 1 then, and when the service does not answer.
backup_status_line() {
    if ! has_backup_service; then
        echo "backups: none on the server (compose.yaml has no backup service; update the template)"
        return 0
    fi
    report="$(compose exec -T backup backup status 2>&1)" && code=0 || code=$?
    if [ -z "$report" ]; then
        echo "backups: the backup service does not answer: see 'docker compose logs backup'."
        return 1
    fi
    # The human lines only: the JSON that follows them is for programs.
    printf '%s\n' "$report" | sed -n '/^[[:space:]]*[{[]/q;p' | sed '1s/^/backups: /;2,$s/^/  /'
    return "$code"
}

# --- upgrade_db ------------------------------------------------------------------------------------
# PostgreSQL major versions differ in their on-disk format: the data moves by a dump of the running
# database restored into a new cluster of the new version, on a new volume named after it
# (postgres_data_17). The old volume is never written to, so switching the answer back and running
# this again returns to it, as it was at the upgrade.
# shellcheck disable=SC2016 # expanded by the containers' shell
PG_ENV='PGPASSWORD="$POSTGRES_PASSWORD" PGUSER="$POSTGRES_USER" PGDATABASE="$POSTGRES_DB" PGHOST=127.0.0.1'
# Every table of the app's schema with its exact row count, one line: compared before and after.
ROW_COUNTS="SELECT coalesce(string_agg(format('%s=%s', table_name, (xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM %I.%I', table_schema, table_name), false, true, '')))[1]::text), ' ' ORDER BY table_name), 'no tables') FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE';"

upgrade_db() {
    [ "$MODE" = server ] \
        || fail "upgrade_db runs on one server (DEPLOY_MODE=server); on a swarm, follow docs/deployment.md, 'PostgreSQL major upgrades'."
    check_env
    target="$(setting POSTGRES_VERSION)"
    target_volume="$(db_volume_name)"
    db="$(container_of db)"
    [ -n "$db" ] || fail "there is no database container: run deploy_all first."
    DB_IMAGE="$(docker inspect --format '{{.Image}}' "$db")"
    current_volume="$(volume_at "$db" "$PGDATA_PATH")"
    if [ "$current_volume" = "$target_volume" ]; then
        say "the database already runs PostgreSQL $target on $target_volume: nothing to do"
        return 0
    fi
    current="$(with_volumes 'cat /v/PG_VERSION' "$current_volume:/v:ro")" \
        || fail "cannot read the PostgreSQL version of $current_volume."
    began="$(date +%s)"
    if docker volume inspect "$target_volume" >/dev/null 2>&1; then
        say "$target_volume exists (left by an earlier upgrade_db): switching back to it as it is"
        switch_db_volume "$current"
        say "the database runs on $target_volume (PostgreSQL $target) again; $current_volume (PostgreSQL $current) is kept: remove it with 'docker volume rm $current_volume' once you are sure"
        return 0
    fi
    backup_before_upgrade
    compose stop backend >&2 || fail "stopping the backend failed (output above)."
    if [ "$current" = "$target" ]; then
        # Same version under the old, unversioned name: a copy, no dump.
        compose stop db >&2 || start_backend_and_fail "stopping the database failed."
        say "copying $current_volume to $target_volume (same PostgreSQL $target)"
        copy_volume "$current_volume" "$target_volume" || abandon_upgrade "copying the data failed"
    else
        dump_into_new_version "$current"
    fi
    switch_db_volume "$current"
    say "PostgreSQL $current -> $target done in $(($(date +%s) - began)) s; the old data stays in $current_volume: remove it with 'docker volume rm $current_volume' once you are sure (the way back: set postgres_version back to $current, then run upgrade_db)"
}

# The volume compose.yaml names for the db service now.
db_volume_name() {
    compose config 2>/dev/null | sed -n '/^volumes:/,$p' | sed -n '/^  postgres_data:/,/^  [a-z]/s/^    name: //p' | head -n 1
}

backup_before_upgrade() {
    if has_backup_service; then
        say "taking a backup first (backup now)"
        compose exec -T backup backup now >&2 \
            || fail "the backup before the upgrade failed (output above); nothing was changed: fix it ('status'), then run upgrade_db again."
    else
        say "no backup service: the current volume, kept as it is, is the copy to go back to"
    fi
}

# A cluster of the new version on the new volume (a one-off container of the db service as
# compose.yaml now describes it), filled by pg_dump of the running one, row counts compared.
dump_into_new_version() {
    next="${PROJECT_SLUG}_db_upgrade"
    docker rm --force "$next" >/dev/null 2>&1 || true
    say "starting PostgreSQL $target on $target_volume"
    compose run --detach --no-deps --name "$next" db >/dev/null \
        || abandon_upgrade "starting PostgreSQL $target failed"
    poll "$WAIT_TIMEOUT" in_next_ready || abandon_upgrade "PostgreSQL $target did not start (docker logs above)"
    dump=".deploy/upgrade-db.dump"
    say "dumping the database (PostgreSQL $1)"
    # docker exec on the running container by its id: `compose exec db` may pick the one-off one.
    docker exec "$db" sh -c "$PG_ENV pg_dump -Fc" > "$dump" || abandon_upgrade "pg_dump failed"
    say "restoring it into PostgreSQL $target"
    docker exec -i "$next" sh -c "$PG_ENV pg_restore --no-owner --exit-on-error --single-transaction -d \"\$POSTGRES_DB\"" < "$dump" \
        || abandon_upgrade "pg_restore failed"
    rm -f "$dump"
    before="$(printf '%s\n' "$ROW_COUNTS" | docker exec -i "$db" sh -c "$PG_ENV psql -At")"
    after="$(printf '%s\n' "$ROW_COUNTS" | docker exec -i "$next" sh -c "$PG_ENV psql -At")"
    [ -n "$before" ] && [ "$before" != "no tables" ] && [ "$before" = "$after" ] \
        || abandon_upgrade "the row counts differ after the restore (before: $before; after: $after)"
    say "same tables and row counts: $after"
    if ! { docker stop "$next" >/dev/null && docker rm "$next" >/dev/null; }; then
        abandon_upgrade "stopping PostgreSQL $target after the restore failed"
    fi
}

# 0 when the new cluster accepts connections over TCP (its first-start set-up listens on the
# socket only), 1 while it starts, 2 once its container has stopped.
in_next_ready() {
    # shellcheck disable=SC2016
    docker exec "$next" sh -c 'pg_isready -q -h 127.0.0.1 -U "$POSTGRES_USER"' 2>/dev/null && return 0
    [ "$(docker inspect --format '{{.State.Running}}' "$next" 2>/dev/null)" = true ] && return 1
    docker logs --tail 30 "$next" >&2 || true
    return 2
}

# Nothing changed: the new volume goes, the old database and the backend run again.
abandon_upgrade() {
    docker rm --force "${PROJECT_SLUG}_db_upgrade" >/dev/null 2>&1 || true
    restore_image db || true
    restore_image backup || true
    docker volume rm "$target_volume" >/dev/null 2>&1 || true
    rm -f .deploy/upgrade-db.dump
    compose start db >&2 || true
    start_backend_and_fail "$1 (output above); the database and its volume $current_volume are unchanged and serve again."
}

start_backend_and_fail() {
    (up backend) >&2 || true
    fail "$1"
}

# The db service recreated on the volume compose.yaml names, then what depends on it. A failure
# leaves the other volume untouched: the answer set back to VERSION and upgrade_db return to it.
switch_db_volume() {
    compose stop backend >&2 || true
    upgrading=1
    (up db) || fail "PostgreSQL $target did not start on $target_volume (output above); $current_volume is untouched: set postgres_version back to $1 and run upgrade_db to return to it."
    upgrading=""
    up backend
    if has_backup_service; then
        up backup
        follow_new_cluster
    fi
    reload_edge
}

# pgBackRest's stanza knows the cluster it archives by its version and system id: after a switch
# it must be told (stanza-upgrade), then a base backup of the new cluster starts its recovery
# window. A failure here does not undo the switch: `status` reports the backups until it is fixed.
follow_new_cluster() {
    say "telling pgBackRest about the new cluster, then a base backup"
    if ! compose exec -T backup sh -c '. /usr/local/lib/backup-env.sh && pgbackrest stanza-upgrade' >&2 \
        || ! compose exec -T backup backup now >&2; then
        say "WARNING: the backups do not follow the new cluster yet (output above): run 'status', and see docs/deployment.md, 'Backups and recovery'"
    fi
}

# Called by `up db`: compose.yaml names another volume than the one the database runs on (the
# postgres_version answer changed). Starting it would show an empty site: upgrade_db moves the data.
db_volume_guard() {
    [ -z "${upgrading:-}" ] || return 0
    db="$(container_of db)"
    [ -n "$db" ] || return 0
    current_volume="$(volume_at "$db" "$PGDATA_PATH")"
    target_volume="$(db_volume_name)"
    [ -n "$target_volume" ] && [ "$current_volume" != "$target_volume" ] || return 0
    restore_image db || true
    fail "compose.yaml puts the database on $target_volume (PostgreSQL $(setting POSTGRES_VERSION)) but it runs on $current_volume: run upgrade_db, which moves the data there (or set postgres_version back)."
}
