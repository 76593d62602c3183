# shellcheck shell=sh
# The backup repository of settings.env (BACKUP_*) and .env (BACKUP_ENCRYPTION_KEY, the S3
# credentials) as pgBackRest's and restic's own variables. Sourced by the db image's entrypoint
# (PostgreSQL's archive-push inherits them) and by the backup command: db/backup-env.sh and
# backup/backup-env.sh are the same file (tests/lint checks), one copy in each image.
# Returns 2 with the reason on stderr when a setting is missing or wrong.
BACKUP_REPOSITORY="${BACKUP_REPOSITORY:-local}"
case "$BACKUP_REPOSITORY" in
    off) return 0 ;;
    local | s3) ;;
    *) echo "BACKUP_REPOSITORY=$BACKUP_REPOSITORY in settings: use s3, local or off." >&2; return 2 ;;
esac
[ -n "${BACKUP_ENCRYPTION_KEY:-}" ] || {
    echo "BACKUP_ENCRYPTION_KEY is empty: set it in .env (see .env.example); without it no backup can be written or read." >&2
    return 2
}
export PGBACKREST_STANZA=main
export PGBACKREST_PG1_PATH="${PGDATA:-/var/lib/postgresql/data}"
export PGBACKREST_PG1_SOCKET_PATH=/var/run/postgresql
export PGBACKREST_PG1_USER="${POSTGRES_USER:-postgres}"
export PGBACKREST_ARCHIVE_ASYNC=y
export PGBACKREST_SPOOL_PATH=/var/spool/pgbackrest
export PGBACKREST_ARCHIVE_PUSH_QUEUE_MAX="${BACKUP_WAL_QUEUE_MAX:-1GiB}"
export PGBACKREST_PROCESS_MAX=2
export PGBACKREST_START_FAST=y
export PGBACKREST_LOG_LEVEL_CONSOLE=warn
export PGBACKREST_LOG_LEVEL_FILE=off
export PGBACKREST_LOG_PATH=/var/log/pgbackrest
export PGBACKREST_REPO1_CIPHER_TYPE=aes-256-cbc
export PGBACKREST_REPO1_CIPHER_PASS="$BACKUP_ENCRYPTION_KEY"
# Point-in-time recovery reaches back this many days: older full backups (and their WAL) go.
export PGBACKREST_REPO1_RETENTION_FULL_TYPE=time
export PGBACKREST_REPO1_RETENTION_FULL="${BACKUP_DB_KEEP_DAYS:-8}"
export RESTIC_PASSWORD="$BACKUP_ENCRYPTION_KEY"
if [ "$BACKUP_REPOSITORY" = local ]; then
    export PGBACKREST_REPO1_TYPE=posix
    export PGBACKREST_REPO1_PATH=/backup-repository/pgbackrest
    export RESTIC_REPOSITORY=/backup-repository/files
else
    # https://host[:port][/] (pgBackRest speaks only HTTPS to S3).
    backup_s3_host="${BACKUP_S3_ENDPOINT#https://}"
    backup_s3_host="${backup_s3_host%%/*}"
    case "$BACKUP_S3_ENDPOINT" in
        https://?*) ;;
        *) echo "BACKUP_S3_ENDPOINT='${BACKUP_S3_ENDPOINT:-}' in settings: the store's HTTPS origin, e.g. https://s3.fr-par.scw.cloud." >&2; return 2 ;;
    esac
    for backup_setting in BACKUP_S3_BUCKET BACKUP_S3_ACCESS_KEY_ID BACKUP_S3_SECRET_ACCESS_KEY; do
        eval "[ -n \"\${$backup_setting:-}\" ]" || {
            echo "$backup_setting is empty: set it (settings.env for the bucket, .env for the keys) for BACKUP_REPOSITORY=s3." >&2
            return 2
        }
    done
    export PGBACKREST_REPO1_TYPE=s3
    export PGBACKREST_REPO1_PATH=/pgbackrest
    export PGBACKREST_REPO1_S3_ENDPOINT="${backup_s3_host%%:*}"
    case "$backup_s3_host" in *:*) export PGBACKREST_REPO1_STORAGE_PORT="${backup_s3_host##*:}" ;; esac
    export PGBACKREST_REPO1_S3_BUCKET="$BACKUP_S3_BUCKET"
    export PGBACKREST_REPO1_S3_REGION="${BACKUP_S3_REGION:-us-east-1}"
    export PGBACKREST_REPO1_S3_URI_STYLE="${BACKUP_S3_URI_STYLE:-path}"
    export PGBACKREST_REPO1_S3_KEY="$BACKUP_S3_ACCESS_KEY_ID"
    export PGBACKREST_REPO1_S3_KEY_SECRET="$BACKUP_S3_SECRET_ACCESS_KEY"
    [ -z "${BACKUP_S3_CA_FILE:-}" ] || export PGBACKREST_REPO1_STORAGE_CA_FILE="$BACKUP_S3_CA_FILE"
    export RESTIC_REPOSITORY="s3:https://$backup_s3_host/$BACKUP_S3_BUCKET/files"
    export AWS_ACCESS_KEY_ID="$BACKUP_S3_ACCESS_KEY_ID"
    export AWS_SECRET_ACCESS_KEY="$BACKUP_S3_SECRET_ACCESS_KEY"
    export AWS_DEFAULT_REGION="${BACKUP_S3_REGION:-us-east-1}"
fi
