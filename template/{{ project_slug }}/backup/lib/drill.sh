# shellcheck shell=sh
# `backup drill`: the latest backups restored into scratch space and compared with production
# (sourced by backup.sh). The result is kept in drill.json, which `backup status` reports.
#
# Database: a restore point is made in production in the same snapshot as the row counts of
# every table; pgBackRest checks that the WAL holding it is archived, verifies the repository,
# restores into a scratch folder up to that point, and the restored PostgreSQL (started on a
# private socket, archiving off, so it never writes to the repository) must show the same counts.
# Files: the latest restic snapshot is restored into the scratch folder, restic reads back 5% of
# the repository's data (`check --read-data-subset`), and a sample of restored files must have the
# checksums of production's. The scratch folder needs the space of the database and the files.

DRILL_SAMPLE=20
# Every permanent table (an unlogged one restores empty, by design), as "schema.table count".
COUNT_SQL="select n.nspname || '.' || c.relname || ' ' || (xpath('/row/c/text()', query_to_xml(format('select count(*) as c from %I.%I', n.nspname, c.relname), false, true, '')))[1]::text from pg_class c join pg_namespace n on n.oid = c.relnamespace where c.relkind = 'r' and c.relpersistence = 'p' and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg_toast%' order by 1"

drill_failed() {
    failure="$1: $(tail -n 3 "$scratch/err" 2>/dev/null | tr '\n' ' ' | cut -c1-400)"
    say "drill: $failure"
    return 1
}

drill_db() {
    point="drill-$drill_started"
    production="$(psql -X -Atq -v ON_ERROR_STOP=1 -h "$SOCKET_DIR" -U "$PGBACKREST_PG1_USER" \
        -d "${POSTGRES_DB:-postgres}" 2>"$scratch/err" <<SQL
begin isolation level repeatable read;
select pg_create_restore_point('$point');
$COUNT_SQL;
commit;
SQL
)" || { drill_failed "counting production's rows failed"; return 1; }
    printf '%s\n' "$production" | grep ' ' > "$scratch/production.counts" || true
    timeout 600 pgbackrest check >"$scratch/err" 2>&1 \
        || { drill_failed "the WAL of the restore point did not reach the repository"; return 1; }
    timeout 3600 pgbackrest verify >"$scratch/err" 2>&1 \
        || { drill_failed "pgbackrest verify found a damaged repository"; return 1; }
    mkdir -m 0700 "$scratch/pgdata"
    timeout 3600 pgbackrest restore --pg1-path="$scratch/pgdata" --type=name --target="$point" \
        --target-action=promote --archive-mode=off >"$scratch/err" 2>&1 \
        || { drill_failed "pgbackrest restore failed"; return 1; }
    timeout 900 pg_ctl -D "$scratch/pgdata" -l "$scratch/err" -w -t 600 -o "-c listen_addresses='' -c unix_socket_directories='$scratch' -c archive_mode=off -c shared_buffers=32MB" start >/dev/null \
        || { drill_failed "the restored database did not start"; return 1; }
    for _ in $(seq 1 300); do
        [ "$(sql "$scratch" 'select pg_is_in_recovery()' 2>/dev/null)" != f ] || break
        sleep 1
    done
    sql "$scratch" "$COUNT_SQL" > "$scratch/restored.counts" 2>"$scratch/err" \
        || { drill_failed "counting the restored rows failed"; return 1; }
    pg_ctl -D "$scratch/pgdata" -m immediate stop >/dev/null 2>&1 || true
    if ! cmp -s "$scratch/production.counts" "$scratch/restored.counts"; then
        failure="row counts differ between production and the restored database: $(diff "$scratch/production.counts" "$scratch/restored.counts" | grep '^[-+][^-+]' | head -n 6 | tr '\n' ' ')"
        say "drill: $failure"
        return 1
    fi
    tables="$(grep -c . "$scratch/production.counts" || true)"
    checked="database restored to a restore point ($tables tables, row counts equal to production's, pgbackrest verify passed)"
}

drill_files() {
    snapshots="$(rst_quick snapshots --host "$FILES_HOST" --latest 1 --json 2>"$scratch/err")" \
        || { drill_failed "restic could not list the file snapshots"; return 1; }
    snapshot="$(printf '%s' "$snapshots" | jq -r '.[0].id // empty')"
    [ -n "$snapshot" ] || { failure="no file snapshot in the repository yet"; return 1; }
    rst restore --quiet "$snapshot" --target "$scratch/files" >"$scratch/err" 2>&1 \
        || { drill_failed "restic restore failed"; return 1; }
    rst check --quiet --read-data-subset=5% >"$scratch/err" 2>&1 \
        || { drill_failed "restic check found a damaged repository"; return 1; }
    restored="$scratch/files$DATA_DIR"
    compared=0
    sample="$( (cd "$restored" 2>/dev/null && find . -type f) | shuf -n "$DRILL_SAMPLE")"
    for file in $sample; do
        file="${file#./}"
        [ -f "$DATA_DIR/$file" ] || continue  # deleted since the snapshot
        if [ "$(sha256sum < "$restored/$file")" != "$(sha256sum < "$DATA_DIR/$file")" ]; then
            failure="the restored file $file differs from production's (checksums)"
            say "drill: $failure"
            return 1
        fi
        compared=$(( compared + 1 ))
    done
    files="$( (cd "$restored" 2>/dev/null && find . -type f) | grep -c . || true)"
    checked="${checked:+$checked; }files restored from snapshot $(printf '%s' "$snapshot" | cut -c1-8) ($files files, $compared sampled checksums equal to production's, restic check of 5% of the data passed)"
}

drill() {
    mark drill.tried
    drill_started="$(now)"
    scratch="$STATE/drill"
    rm -rf "$scratch"
    mkdir -m 0700 "$scratch"
    failure=""
    checked=""
    say "restore drill: the latest backups into $scratch"
    if has_db; then drill_db || true; fi
    [ -n "$failure" ] || drill_files || true
    if [ -f "$scratch/pgdata/postmaster.pid" ]; then
        pg_ctl -D "$scratch/pgdata" -m immediate stop >/dev/null 2>&1 || true
    fi
    finished="$(now)"
    result=passed
    [ -z "$failure" ] || result=failed
    jq -n --argjson at "$finished" --argjson seconds "$(( finished - drill_started ))" \
        --arg result "$result" --arg checked "$checked" --arg detail "$failure" '
        {finished_at: ($at | todateiso8601), finished_epoch: $at, seconds: $seconds,
         result: $result, checked: $checked, detail: $detail}' > "$STATE/drill.json.tmp"
    mv "$STATE/drill.json.tmp" "$STATE/drill.json"
    rm -rf "$scratch"
    mark drill.done
    if [ -n "$failure" ]; then
        say "restore drill FAILED: $failure"
        return 1
    fi
    say "restore drill passed in $(( finished - drill_started )) s: $checked"
}
