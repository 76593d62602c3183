# shellcheck shell=sh
# `backup status` and the status file the scheduler refreshes (sourced by backup.sh).
#
# What is checked, each from the tools themselves: PostgreSQL's archiver (pg_stat_archiver) and
# the WAL segments still waiting in pg_wal; pgBackRest's view of the repository (its base
# backups); restic's (its file snapshots); the last drill's result. A problem is a sentence with
# its cause and its fix; any problem makes `backup status` exit 1.

STATUS_FILE="$STATE/status.json"
SOCKET_DIR=/var/run/postgresql

problems=""
problem() {
    problems="${problems}${problems:+
}$1"
}

# What an error of a tool means: key, unreachable, missing or other.
error_kind() {
    case "$1" in
        # pgBackRest reads an info file decrypted with the wrong key as garbage: a FormatError.
        *[Cc]ipher* | *[Dd]ecrypt* | *"wrong password"* | *"no key found"* | *CryptoError* \
            | *"key/value found outside of section"*) echo key ;;
        *onnect* | *refused* | *"no such host"* | *imeout* | *"timed out"* | *resolve* | *"No route"* | *unreachable*) echo unreachable ;;
        *"Is there a repository"* | *"missing stanza"* | *"does not exist"* | *NoSuchBucket*) echo missing ;;
        *) echo other ;;
    esac
}

repository_problem() {
    where="$BACKUP_REPOSITORY repository"
    [ "$BACKUP_REPOSITORY" != s3 ] || where="S3 repository ${BACKUP_S3_ENDPOINT:-} (bucket ${BACKUP_S3_BUCKET:-})"
    case "$(error_kind "$2")" in
        key) problem "$1 cannot be read with BACKUP_ENCRYPTION_KEY: the key in .env is not the one the backups were made with. Fix: put the right key back in .env (from your password manager) and redeploy deploy_bdd." ;;
        unreachable)
            problem "the $where is unreachable ($1). Fix: check that it answers from the server and the BACKUP_S3_* settings and keys; WAL waits in pg_wal meanwhile (at most BACKUP_WAL_QUEUE_MAX)."
            [ -f "$STATE/outage" ] || mark outage
            return 0
            ;;
        missing) problem "$1: the $where holds no backup yet. Fix: wait for the first backup, or run 'backup now'; for S3, create the bucket first." ;;
        *) problem "$1 failed on the $where: $(printf '%s' "$2" | tr '\n' ' ' | cut -c1-300)" ;;
    esac
    mark repository.ok
}

ago() {
    if [ "$1" -lt 120 ]; then echo "$1 s"
    elif [ "$1" -lt 7200 ]; then echo "$(( $1 / 60 )) min"
    elif [ "$1" -lt 172800 ]; then echo "$(( $1 / 3600 )) h"
    else echo "$(( $1 / 86400 )) days"
    fi
}

status_wal() {
    wal_at=0
    wal_waiting=0
    wal_wait=0
    wal_dir_kib="$(du -sk "$PGDATA/pg_wal" 2>/dev/null | cut -f1)" || wal_dir_kib=""
    row="$(sql "$SOCKET_DIR" "select current_setting('archive_mode'), coalesce(extract(epoch from last_archived_time)::bigint, 0), coalesce(extract(epoch from last_failed_time)::bigint, 0) from pg_stat_archiver" 2>&1)" || {
        problem "cannot reach PostgreSQL through $SOCKET_DIR ($(printf '%s' "$row" | head -n 1)). Fix: is the db service running? (status)"
        return 0
    }
    IFS='|' read -r archive_mode wal_at wal_failed_at <<ROW
$row
ROW
    if [ "$archive_mode" != on ]; then
        problem "PostgreSQL does not archive its WAL (archive_mode=$archive_mode): the db service started without valid backup settings (its log says why). Fix: correct them, then redeploy deploy_bdd."
        return 0
    fi
    waiting="$(find "$PGDATA/pg_wal/archive_status" -name '*.ready' -exec stat -c %Y {} \; 2>/dev/null | sort -n)" || waiting=""
    wal_waiting="$(printf '%s' "$waiting" | grep -c . || true)"
    [ "$wal_waiting" -eq 0 ] || wal_wait="$(( $(now) - $(printf '%s\n' "$waiting" | head -n 1) ))"
    stale="$(( $(number "${BACKUP_STALE_MINUTES:-}" 10) * 60 ))"
    if [ "$wal_wait" -gt "$stale" ]; then
        failed=""
        [ "$wal_failed_at" -le "$wal_at" ] || failed=", the last attempt failed $(ago "$(( $(now) - wal_failed_at ))") ago"
        problem "the database's WAL has not reached the repository for $(ago "$wal_wait") ($wal_waiting segment(s) waiting in pg_wal, ${wal_dir_kib:-?} KiB$failed): commits since then would be lost with the server. Fix: see the repository's problem; archiving catches up by itself when it answers."
    fi
}

status_base() {
    base_at=0
    base_type=""
    db_bytes=0
    # pgBackRest retries an unreachable store until its I/O timeout (4 tries): 5 s each here.
    info="$(timeout 60 pgbackrest info --io-timeout=5 --output=json 2>"$STATE/pgbackrest.err")" || {
        [ $? -ne 124 ] || echo "no answer within 60 s (timeout)" >> "$STATE/pgbackrest.err"
        repository_problem "pgBackRest's repository" "$(cat "$STATE/pgbackrest.err") $info"
        return 0
    }
    # Non-ASCII bytes (a file decrypted with the wrong key, quoted in the message) become '?':
    # jq refuses invalid UTF-8.
    info="$(printf '%s' "$info" | LC_ALL=C tr -c '\11\12\15\40-\176' '?')"
    code="$(printf '%s' "$info" | jq -r '.[0].status.code // 99')"
    # The repository's own status says why (unreachable, a wrong key...) where the stanza's
    # says only "other".
    message="$(printf '%s' "$info" | jq -r '[.[0].repo[]?.status | select(.code != 0) | .message][0] // .[0].status.message // "no answer"')"
    case "$code" in
        0) ;;
        2) ;;  # no backup yet: said below, once the first one is late
        4) repository_problem "pgBackRest's repository" "cipher: $message"; return 0 ;;
        *) repository_problem "pgBackRest's repository" "$message"; return 0 ;;
    esac
    mark repository.ok
    base_at="$(printf '%s' "$info" | jq -r '[.[0].backup[]?.timestamp.stop] | max // 0')"
    base_type="$(printf '%s' "$info" | jq -r '[.[0].backup[]?] | last | .type // ""')"
    db_bytes="$(printf '%s' "$info" | jq -r '[.[0].backup[]?.info.repository.delta] | add // 0')"
    late="$(( $(number "${BACKUP_BASE_HOURS:-}" 24) * 7200 + 3600 ))"
    if [ "$base_at" = 0 ]; then
        [ "$(( $(now) - $(state_of started) ))" -lt 3600 ] \
            || problem "no base backup of the database in the repository. Fix: see the backup service's log (logs backup); 'backup now' takes one."
    elif [ "$(( $(now) - base_at ))" -gt "$late" ]; then
        problem "the last base backup of the database is $(ago "$(( $(now) - base_at ))") old. Fix: see the backup service's log; 'backup now' takes one."
    fi
}

status_files() {
    files_at=0
    files_bytes=0
    snapshots="$(rst_quick snapshots --host "$FILES_HOST" --latest 1 --json 2>"$STATE/restic.err")" || {
        repository_problem "restic's repository" "$(cat "$STATE/restic.err")"
        return 0
    }
    files_at="$(printf '%s' "$snapshots" | jq -r '[.[].time | sub("\\.[0-9]+"; "") | sub("\\+00:00$"; "Z") | fromdateiso8601] | max // 0')"
    stats="$(rst_quick stats --mode raw-data --json 2>/dev/null)" \
        && files_bytes="$(printf '%s' "$stats" | jq -r '.total_size // 0')"
    every="$(( $(number "${BACKUP_FILES_MINUTES:-}" 15) * 60 ))"
    since="$files_at"
    [ "$since" != 0 ] || since="$(state_of started)"
    if [ "$(( $(now) - since ))" -gt "$(( 2 * every + 300 ))" ]; then
        age="missing"
        [ "$files_at" = 0 ] || age="$(ago "$(( $(now) - files_at ))") old"
        problem "the last snapshot of the files is $age (one every $(( every / 60 )) min is due). Fix: see the backup service's log; 'backup now' takes one."
    fi
}

status_drill() {
    drill_json="$(cat "$STATE/drill.json" 2>/dev/null)" || drill_json=null
    if [ "$(printf '%s' "$drill_json" | jq -r '.result // ""')" = failed ]; then
        problem "the last restore drill failed: $(printf '%s' "$drill_json" | jq -r '.detail'). Fix: run 'backup drill' again once this is fixed; a failing drill means a restore would fail too."
    fi
}

repository_kib() {
    if [ "$BACKUP_REPOSITORY" = local ]; then
        du -sk /backup-repository 2>/dev/null | cut -f1
    else
        echo "$(( (db_bytes + files_bytes) / 1024 ))"
    fi
}

# The repositories' facts of the last full refresh (pgBackRest's info, restic's snapshots and
# stats, the repository's size: each a tool that decrypts the repository's index, about a second
# of CPU together) and the problems they showed, for the scheduler's ticks in between.
FACTS_FILE="$STATE/repository.facts"
PROBLEMS_FILE="$STATE/repository.problems"
REPOSITORY_CHECK_SECONDS=300

fact() {
    sed -n "s/^$1=//p" "$FACTS_FILE" 2>/dev/null | grep . || echo 0
}

# Whether the scheduler's tick reads the repositories again: every REPOSITORY_CHECK_SECONDS, at
# every tick while they show a problem (to see it end), and after anything that changes them or
# says they changed: a job (of this container or of a `backup now`), a failed WAL archiving.
repository_due() {
    read_at="$(fact read_at)"
    [ "$(( $(now) - read_at ))" -lt "$REPOSITORY_CHECK_SECONDS" ] || return 0
    [ ! -s "$PROBLEMS_FILE" ] || return 0
    [ "${wal_failed_at:-0}" -le "$read_at" ] || return 0
    for stamp in base.tried base.done files.tried files.done prune.done drill.tried; do
        [ "$(state_of "$stamp")" -lt "$read_at" ] || return 0
    done
    return 1
}

status_repository() {
    before="$problems"
    problems=""
    ! has_db || status_base
    status_files
    repository_kib="$(repository_kib)"
    printf 'read_at=%s\nbase_at=%s\nbase_type=%s\ndb_bytes=%s\nfiles_at=%s\nfiles_bytes=%s\nrepository_kib=%s\n' \
        "$(now)" "$base_at" "$base_type" "$db_bytes" "$files_at" "$files_bytes" "$repository_kib" > "$FACTS_FILE.$$"
    printf '%s' "$problems" > "$PROBLEMS_FILE.$$"
    mv "$FACTS_FILE.$$" "$FACTS_FILE" && mv "$PROBLEMS_FILE.$$" "$PROBLEMS_FILE"
    problems="$before${before:+${problems:+
}}$problems"
}

status_recalled() {
    base_at="$(fact base_at)" base_type="$(sed -n 's/^base_type=//p' "$FACTS_FILE")"
    db_bytes="$(fact db_bytes)" files_at="$(fact files_at)" files_bytes="$(fact files_bytes)"
    repository_kib="$(sed -n 's/^repository_kib=//p' "$FACTS_FILE")"
    [ ! -s "$PROBLEMS_FILE" ] || problem "$(cat "$PROBLEMS_FILE")"
}

# status_refresh [tick]: everything, from the tools; `tick` (the scheduler's): the WAL archiver
# and the drill's result every time, the repositories when repository_due.
status_refresh() {
    problems=""
    wal_at=0 wal_waiting=0 wal_wait=0 wal_failed_at=0 wal_dir_kib="" base_at=0 base_type=""
    files_at=0 db_bytes=0 files_bytes=0 drill_json=null repository_kib=""
    if [ "$BACKUP_REPOSITORY" = off ]; then
        problem "backups are off (BACKUP_REPOSITORY=off): nothing is backed up. Fix: set it to s3 or local in settings.site.env and redeploy deploy_bdd."
    elif [ -n "$settings_error" ]; then
        problem "$settings_error"
    else
        ! has_db || status_wal
        if [ "${1:-}" != tick ] || repository_due; then
            status_repository
        else
            status_recalled
        fi
        status_drill
    fi
    survives=true
    [ "$BACKUP_REPOSITORY" != local ] || survives=false
    jq -n --argjson checked "$(now)" --arg repository "$BACKUP_REPOSITORY" --argjson survives "$survives" \
        --argjson wal_at "${wal_at:-0}" --argjson waiting "${wal_waiting:-0}" --argjson wait "${wal_wait:-0}" \
        --arg wal_kib "${wal_dir_kib:-}" --argjson base_at "${base_at:-0}" --arg base_type "$base_type" \
        --argjson files_at "${files_at:-0}" --argjson drill "$drill_json" --arg kib "${repository_kib:-}" \
        --arg problems "$problems" --arg database "${BACKUP_DATABASE:-yes}" '
        def time: if . > 0 then todateiso8601 else null end;
        {
          ok: ($problems == ""),
          checked_at: ($checked | time),
          repository: $repository,
          repository_survives_server_loss: $survives,
          repository_bytes: (if $kib == "" then null else ($kib | tonumber) * 1024 end),
          database: (if $database == "yes" then "pgbackrest" else "managed by its provider (not backed up here)" end),
          wal_archived_at: ($wal_at | time),
          wal_segments_waiting: $waiting,
          wal_oldest_waiting_seconds: $wait,
          wal_dir_bytes: (if $wal_kib == "" then null else ($wal_kib | tonumber) * 1024 end),
          base_backup_at: ($base_at | time),
          base_backup_type: $base_type,
          files_snapshot_at: ($files_at | time),
          drill: $drill,
          problems: ($problems | split("\n") | map(select(. != "")))
        }' > "$STATUS_FILE.$$"
    # $$: the scheduler and a `backup status` may write it at the same time.
    mv "$STATUS_FILE.$$" "$STATUS_FILE"
    [ -z "$problems" ]
}

status_line() {
    if [ -n "$problems" ]; then
        more="$(printf '%s\n' "$problems" | sed 1d | grep -c . || true)"
        printf 'backups FAILING: %s%s\n' "$(printf '%s\n' "$problems" | head -n 1)" \
            "$( [ "$more" = 0 ] || echo " (and $more more problem(s) below)")"
        return 0
    fi
    t="$(now)"
    line="backups OK ($BACKUP_REPOSITORY repository"
    [ -z "$repository_kib" ] || line="$line, $(( repository_kib / 1024 )) MiB"
    line="$line):"
    if has_db; then
        if [ "$wal_at" != 0 ]; then line="$line database archived $(ago "$(( t - wal_at ))") ago,"; fi
        if [ "$base_at" != 0 ]; then line="$line base backup $(ago "$(( t - base_at ))") ago,"; fi
    fi
    if [ "$files_at" != 0 ]; then line="$line files $(ago "$(( t - files_at ))") ago,"; fi
    drill_at="$(printf '%s' "$drill_json" | jq -r '.finished_epoch // 0')"
    if [ "$drill_at" != 0 ]; then
        line="$line drill passed $(ago "$(( t - drill_at ))") ago"
    else
        line="$line no drill yet"
    fi
    [ "$BACKUP_REPOSITORY" != local ] \
        || line="$line; the local repository is on this server's disk and does NOT survive the loss of the server (BACKUP_REPOSITORY=s3 keeps the backups elsewhere)"
    printf '%s\n' "$line"
}

status_command() {
    result=0
    status_refresh || result=1
    status_line
    cat "$STATUS_FILE"
    exit "$result"
}
