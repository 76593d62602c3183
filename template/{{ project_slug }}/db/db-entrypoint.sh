#!/bin/sh
# The official image's entrypoint, with PostgreSQL's WAL archiving turned on towards the backup
# repository of settings.env (backup-env.sh maps it to pgBackRest's variables; archive-push runs
# inside PostgreSQL and inherits them).
#
# Why these settings:
# - archive_timeout: a quiet database still switches to a new WAL segment this often, so the
#   last commits reach the repository within BACKUP_WAL_SECONDS (60 by default).
# - archive-async (backup-env.sh): archive-push hands segments to a background pgBackRest that
#   pushes them in parallel; a slow repository does not slow commits down.
# - archive-push-queue-max (BACKUP_WAL_QUEUE_MAX): while the repository is unreachable, the WAL
#   PostgreSQL must keep grows; past this size pgBackRest drops it (and says so in the log), so
#   pg_wal never fills the disk. The backup service takes a new base backup when the repository
#   answers again, from which point-in-time recovery is whole again.
# - A repository setting missing or wrong: PostgreSQL starts without archiving (a failing
#   archive_command would keep every WAL segment) and the backup service's status says why.
set -eu
archiving=yes
# shellcheck source=backup-env.sh
if ! . /usr/local/lib/backup-env.sh; then
    echo "db: WAL archiving is OFF until the backup settings above are fixed (then redeploy deploy_bdd)." >&2
    archiving=no
fi
[ "$BACKUP_REPOSITORY" != off ] || archiving=no
# A store that does not answer fails an archive-push in seconds, not minutes (pgBackRest retries
# until its I/O timeout): the next one then applies the queue limit above.
export PGBACKREST_IO_TIMEOUT=10
if [ "${1:-}" = postgres ] && [ "$archiving" = yes ]; then
    shift
    set -- postgres \
        -c archive_mode=on \
        -c "archive_command=pgbackrest archive-push %p" \
        -c "archive_timeout=${BACKUP_WAL_SECONDS:-60}" \
        "$@"
fi
exec docker-entrypoint.sh "$@"
