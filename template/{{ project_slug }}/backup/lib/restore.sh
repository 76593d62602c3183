# shellcheck shell=sh
# `backup restore-db` and `backup restore-files` (sourced by backup.sh). Each runs in a container
# of its own (`docker compose run --rm`), with the volume it restores mounted read-write; it keeps
# nothing aside itself: the scripts that call it (restore, upgrade_db) keep the old volume.

restore_db() {
    has_db || fail "this site's database is managed by its provider: restore it with the provider's point-in-time recovery."
    [ -w "$PGDATA" ] || fail "$PGDATA is read-only here: run with the db service stopped and its volume mounted read-write, e.g. docker compose run --rm -v <slug>_postgres_data:$PGDATA backup backup restore-db"
    # pgBackRest refuses on its own when PostgreSQL runs on these files (postmaster.pid).
    if [ -n "$target_time" ]; then
        target="$(printf '%s' "$target_time" | sed 's/T/ /; s/Z$/+00/')"
        say "restoring the database to $target_time"
        pgbackrest restore --delta --type=time "--target=$target" --target-action=promote >&2 \
            || fail "pgbackrest restore failed (above); is $target_time inside the retention window and before the last archived WAL? (backup status)"
    else
        say "restoring the database to the latest archived state"
        pgbackrest restore --delta >&2 || fail "pgbackrest restore failed (above)."
    fi
    say "database restored into $PGDATA: start the db service; it replays the archived WAL up to the target, then accepts writes."
}

# The id of the last file snapshot at or before $target_time (the latest without one).
snapshot_at() {
    limit="$(epoch_of "${target_time:-2999-01-01T00:00:00Z}")"
    rst snapshots --host "$FILES_HOST" --json | jq -r --argjson limit "$limit" '
        [.[] | select((.time | sub("\\.[0-9]+"; "") | sub("\\+00:00$"; "Z") | fromdateiso8601) <= $limit)]
        | sort_by(.time) | last | .id // empty'
}

restore_files() {
    [ "$(id -u)" = 0 ] || fail "restore-files runs as root so that files keep their owner: docker compose run --rm --user root --cap-add CHOWN --cap-add FOWNER --cap-add DAC_OVERRIDE -v <slug>_storage_data:$DATA_DIR backup backup restore-files"
    [ -w "$DATA_DIR" ] || fail "$DATA_DIR is read-only here: mount the storage volume read-write (-v <slug>_storage_data:$DATA_DIR)."
    snapshot="$(snapshot_at)" || fail "listing the file snapshots failed (above)."
    [ -n "$snapshot" ] || fail "no file snapshot at or before ${target_time:-now} in the repository."
    say "restoring the files of snapshot $(printf '%s' "$snapshot" | cut -c1-8)"
    # Into a folder beside the files first: a failure here leaves them untouched.
    rm -rf "$DATA_DIR/.restore" "$DATA_DIR/.replaced"
    rst restore --quiet "$snapshot" --target "$DATA_DIR/.restore" >&2 \
        || { rm -rf "$DATA_DIR/.restore"; fail "restic restore failed (above); the files were left as they were."; }
    mkdir -p "$DATA_DIR/.restore$DATA_DIR" "$DATA_DIR/.replaced"
    # Then renames only, on one file system: the current files aside, the restored ones in place.
    find "$DATA_DIR" -mindepth 1 -maxdepth 1 ! -name .restore ! -name .replaced -exec mv {} "$DATA_DIR/.replaced/" \;
    find "$DATA_DIR/.restore$DATA_DIR" -mindepth 1 -maxdepth 1 -exec mv {} "$DATA_DIR/" \;
    rm -rf "$DATA_DIR/.restore" "$DATA_DIR/.replaced"
    say "files restored into $DATA_DIR ($(find "$DATA_DIR" -type f | grep -c . || true) files)"
}
