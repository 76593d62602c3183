# shellcheck shell=sh
# The scheduled jobs and the scheduler loop of `backup run` (sourced by backup.sh).
#
# Schedule (settings.env): a base backup of the database every BACKUP_BASE_HOURS (full when the
# last full one is BACKUP_FULL_DAYS old, else differential), a file snapshot every
# BACKUP_FILES_MINUTES, pruning with the base backup, a drill every BACKUP_DRILL_HOURS. A job
# that failed is tried again after RETRY_SECONDS, not at every turn of the loop.

RETRY_SECONDS=300
TICK_SECONDS=20

# The repositories exist (both commands are idempotent): pgBackRest's stanza, restic's repository.
init_repositories() {
    if has_db; then
        timeout 300 pgbackrest stanza-create >&2 \
            || { say "pgBackRest could not create or check its stanza (above)"; return 1; }
    fi
    if ! rst cat config >/dev/null 2>"$STATE/restic.err"; then
        if grep -q "Is there a repository" "$STATE/restic.err"; then
            say "creating the restic repository of the files"
            rst init >/dev/null || { say "restic init failed (above)"; return 1; }
        else
            say "restic cannot open its repository: $(tail -n 2 "$STATE/restic.err" | tr '\n' ' ')"
            return 1
        fi
    fi
    mark initialised
}

# full, or diff when a full backup of BACKUP_FULL_DAYS or less exists.
base_type() {
    full_days="$(number "${BACKUP_FULL_DAYS:-}" 7)"
    last_full="$(timeout 120 pgbackrest info --output=json 2>/dev/null \
        | jq -r '[.[0].backup[]? | select(.type == "full") | .timestamp.stop] | max // 0')" || last_full=0
    if [ "$(( $(now) - ${last_full:-0} ))" -lt "$(( full_days * 86400 ))" ]; then
        echo diff
    else
        echo full
    fi
}

base_backup() {
    has_db || return 0
    type="$(base_type)"
    say "base backup of the database ($type)"
    mark base.tried
    # expire runs after the backup: full backups older than BACKUP_DB_KEEP_DAYS go, with their WAL.
    pgbackrest backup --type="$type" >&2 || { say "the base backup failed (above)"; return 1; }
    mark base.done
    rm -f "$STATE/outage"
    say "base backup done"
}

files_snapshot() {
    mark files.tried
    [ -d "$DATA_DIR" ] || { say "no $DATA_DIR folder: the storage volume is not mounted"; return 1; }
    # .tmp holds uploads in progress (storage's); .restore and .replaced are restore-files' own.
    rst backup --quiet --host "$FILES_HOST" --tag files \
        --exclude "$DATA_DIR/.tmp" --exclude "$DATA_DIR/.restore" --exclude "$DATA_DIR/.replaced" \
        "$DATA_DIR" >&2 || { say "the file snapshot failed (above)"; return 1; }
    mark files.done
}

prune_files() {
    say "pruning file snapshots (keep ${BACKUP_KEEP_DAILY:-7} daily, ${BACKUP_KEEP_WEEKLY:-4} weekly, ${BACKUP_KEEP_MONTHLY:-6} monthly)"
    rst forget --quiet --host "$FILES_HOST" --prune \
        --keep-daily "$(number "${BACKUP_KEEP_DAILY:-}" 7)" \
        --keep-weekly "$(number "${BACKUP_KEEP_WEEKLY:-}" 4)" \
        --keep-monthly "$(number "${BACKUP_KEEP_MONTHLY:-}" 6)" >&2 \
        || { say "pruning the file snapshots failed (above)"; return 1; }
    mark prune.done
}

backup_now() {
    [ -f "$STATE/initialised" ] || init_repositories || fail "the backup repository is not ready (above)."
    base_backup || fail "the base backup failed (above)."
    files_snapshot || fail "the file snapshot failed (above)."
    say "backed up: database and files"
}

# Whether job $1 is due every $2 seconds (or now, after a failure older than RETRY_SECONDS).
due() {
    done_at="$(state_of "$1.done")"
    tried_at="$(state_of "$1.tried")"
    [ "$(( $(now) - done_at ))" -ge "$2" ] || return 1
    [ "$tried_at" -le "$done_at" ] || [ "$(( $(now) - tried_at ))" -ge "$RETRY_SECONDS" ]
}

scheduled_jobs() {
    [ -f "$STATE/initialised" ] || init_repositories || return 0
    base_every="$(( $(number "${BACKUP_BASE_HOURS:-}" 24) * 3600 ))"
    # After an outage of the repository, WAL may have been dropped: a base backup makes
    # point-in-time recovery whole again from now on.
    if [ -f "$STATE/outage" ] && [ "$(state_of repository.ok)" -gt "$(state_of outage)" ]; then
        base_every=0
    fi
    if has_db && due base "$base_every"; then
        base_backup && prune_files || true
    fi
    if due files "$(( $(number "${BACKUP_FILES_MINUTES:-}" 15) * 60 ))"; then
        files_snapshot || true
    fi
    # The first drill comes a period after the first start, then one a period after the last.
    drill_every="$(( $(number "${BACKUP_DRILL_HOURS:-}" 24) * 3600 ))"
    last_drill="$(state_of drill.tried)"
    [ "$last_drill" -gt "$(state_of started)" ] || last_drill="$(state_of started)"
    if [ "$(( $(now) - last_drill ))" -ge "$drill_every" ]; then
        drill || true
    fi
}

run() {
    [ -f "$STATE/started" ] || mark started
    # The health check's heartbeat, for as long as this loop lives.
    (while kill -0 $$ 2>/dev/null; do touch "$STATE/heartbeat"; sleep 10; done) &
    trap 'exit 0' TERM INT
    if [ "$BACKUP_REPOSITORY" = off ]; then
        say "backups are off (BACKUP_REPOSITORY=off in settings)"
    elif [ -n "$settings_error" ]; then
        say "$settings_error"
    else
        say "backing up to the $BACKUP_REPOSITORY repository"
    fi
    while :; do
        if [ "$BACKUP_REPOSITORY" != off ] && [ -z "$settings_error" ]; then
            locked scheduled_jobs || true
        fi
        status_refresh tick >/dev/null 2>&1 || true
        sleep "$TICK_SECONDS" &
        wait $! || true
    done
}

alive() {
    heartbeat="$(stat -c %Y "$STATE/heartbeat" 2>/dev/null || echo 0)"
    [ "$(( $(now) - heartbeat ))" -lt 60 ] || { echo "the scheduler has not run for a minute" >&2; exit 1; }
}
