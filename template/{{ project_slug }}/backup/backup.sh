#!/bin/sh
# backup: the backup service's one command (README.md beside this file).
#   backup run                  the scheduler (the container's command)
#   backup now                  one base backup of the database and one file snapshot, now
#   backup drill                restore the latest backups into scratch space and compare
#   backup status               one line for people, then the status JSON; exit 1 if not OK
#   backup restore-db [--time 2026-12-06T14:03:00Z]     (db stopped, its volume mounted rw)
#   backup restore-files [--time 2026-12-06T14:03:00Z]  (as root, the storage volume rw)
#   backup alive                the health check: the scheduler is running
set -eu

STATE=/var/lib/backup
LIB=/usr/local/lib/backup
PGDATA="${PGDATA:-/var/lib/postgresql/data}"
DATA_DIR=/data
# restic's name for this site's file snapshots: the same on a new server, so a restore finds them.
FILES_HOST=files
export RESTIC_CACHE_DIR="$STATE/cache"

say() {
    printf '%s backup: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2
}

fail() {
    say "$*"
    exit 1
}

now() {
    date -u +%s
}

# Epoch seconds as 2026-12-06T14:03:00Z.
iso() {
    jq -rn --argjson t "$1" '$t | todateiso8601'
}

# 2026-12-06T14:03:00Z as epoch seconds; fails on anything else.
epoch_of() {
    jq -rn --arg t "$1" '$t | fromdateiso8601' 2>/dev/null
}

# A setting in minutes, hours or days, as a whole positive number (its default otherwise).
number() {
    case "$1" in '' | *[!0-9]*) echo "$2" ;; 0) echo "$2" ;; *) echo "$1" ;; esac
}

# Whether this site's PostgreSQL is backed up here (not a managed one: swarm_database_host).
has_db() {
    [ "${BACKUP_DATABASE:-yes}" = yes ]
}

# One query on the server whose socket is in $1 (production's, or the drill's copy).
sql() {
    timeout 60 psql -X -Atq -v ON_ERROR_STOP=1 -h "$1" -U "$PGBACKREST_PG1_USER" \
        -d "${POSTGRES_DB:-postgres}" -c "$2"
}

# restic with the store's private CA when settings name one.
rst() {
    restic ${BACKUP_S3_CA_FILE:+--cacert "$BACKUP_S3_CA_FILE"} "$@"
}

# The same for a question that must not wait for long (restic retries an unreachable store for
# minutes): 60 s.
rst_quick() {
    timeout 60 restic ${BACKUP_S3_CA_FILE:+--cacert "$BACKUP_S3_CA_FILE"} "$@"
}

# One job at a time, whichever container runs it (the state volume is shared).
locked() {
    (
        flock -w 7200 9 || fail "another backup job has held the lock for 2 hours: see the backup service's log."
        "$@"
    ) 9>"$STATE/job.lock"
}

# The value of a state file (a timestamp), or 0.
state_of() {
    cat "$STATE/$1" 2>/dev/null || echo 0
}

mark() {
    printf '%s\n' "${2:-$(now)}" > "$STATE/$1.$$" && mv "$STATE/$1.$$" "$STATE/$1"
}

settings_error=""
load_settings() {
    # shellcheck source=backup-env.sh
    settings_error="$( { . /usr/local/lib/backup-env.sh; } 2>&1 >/dev/null )" || true
    # shellcheck source=backup-env.sh
    . /usr/local/lib/backup-env.sh 2>/dev/null || true
    [ "${BACKUP_REPOSITORY:-local}" != off ] || settings_error=""
}

# shellcheck source=lib/jobs.sh
. "$LIB/jobs.sh"
# shellcheck source=lib/status.sh
. "$LIB/status.sh"
# shellcheck source=lib/drill.sh
. "$LIB/drill.sh"
# shellcheck source=lib/restore.sh
. "$LIB/restore.sh"

# Parses `--time ISO8601Z` into $target_time (empty: the latest).
parse_time() {
    target_time=""
    while [ $# -gt 0 ]; do
        case "$1" in
            --time) [ $# -ge 2 ] || fail "--time needs a value, e.g. --time 2026-12-06T14:03:00Z"; target_time="$2"; shift 2 ;;
            --time=*) target_time="${1#--time=}"; shift ;;
            *) fail "unknown argument '$1': backup restore-db|restore-files [--time 2026-12-06T14:03:00Z]" ;;
        esac
    done
    [ -z "$target_time" ] || epoch_of "$target_time" >/dev/null \
        || fail "--time '$target_time' is not a UTC time as 2026-12-06T14:03:00Z (seconds and the Z included)."
}

main() {
    command="${1:-run}"
    [ $# -eq 0 ] || shift
    mkdir -p "$STATE" 2>/dev/null || true
    load_settings
    case "$command" in
        run) run ;;
        alive) alive ;;
        status) status_command ;;
        now | drill | restore-db | restore-files)
            [ -z "$settings_error" ] || fail "$settings_error"
            [ "$BACKUP_REPOSITORY" != off ] || fail "backups are off (BACKUP_REPOSITORY=off in settings)."
            case "$command" in
                now) locked backup_now ;;
                drill) locked drill ;;
                restore-db) parse_time "$@"; locked restore_db ;;
                restore-files) parse_time "$@"; locked restore_files ;;
            esac
            ;;
        -h | --help | help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' ;;
        *) fail "unknown command '$command': run, now, drill, status, restore-db, restore-files (backup help)." ;;
    esac
}

main "$@"
