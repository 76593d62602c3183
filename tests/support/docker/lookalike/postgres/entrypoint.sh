#!/bin/sh
# The official image's start, as far as the stack relies on it: for `postgres`, switch from root
# to the postgres user owning PGDATA; on the first start create the cluster with POSTGRES_USER as
# superuser and POSTGRES_PASSWORD (required), password authentication from the network, and
# POSTGRES_DB. Any other command runs as given.
set -eu
case "${1:-}" in -*) set -- postgres "$@" ;; esac
[ "${1:-}" = postgres ] || exec "$@"
if [ "$(id -u)" = 0 ]; then
    mkdir -p "$PGDATA" && chown postgres:postgres "$PGDATA" && chmod 0700 "$PGDATA"
    exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    : "${POSTGRES_PASSWORD:?a new database needs POSTGRES_PASSWORD}"
    user=${POSTGRES_USER:-postgres}
    database=${POSTGRES_DB:-$user}
    password_file=$(mktemp)
    printf '%s\n' "$POSTGRES_PASSWORD" > "$password_file"
    initdb -D "$PGDATA" -U "$user" --pwfile="$password_file" -E UTF8 --auth-local=trust \
        --auth-host=scram-sha-256 >/dev/null
    rm -f "$password_file"
    printf "listen_addresses = '*'\n" >> "$PGDATA/postgresql.conf"
    printf 'host all all all scram-sha-256\n' >> "$PGDATA/pg_hba.conf"
    if [ "$database" != postgres ]; then
        pg_ctl -D "$PGDATA" -w -o "-c listen_addresses=''" start >/dev/null
        psql -q -v ON_ERROR_STOP=1 -U "$user" -d postgres -v name="$database" \
            <<'SQL'
CREATE DATABASE :"name";
SQL
        pg_ctl -D "$PGDATA" -w -m fast stop >/dev/null
    fi
    echo "postgres stand-in: new cluster, superuser $user, database $database"
fi
exec "$@"
