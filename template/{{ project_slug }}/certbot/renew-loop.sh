#!/bin/sh
### Usage: renew-loop.sh [extra `certbot renew` options]
###
### The certbot container's command. Puts a placeholder certificate in place if there is none (so
### nginx can start on a fresh server), then runs `certbot renew` every RENEW_INTERVAL_HOURS
### (default 48). certbot renews certificates that expire within 30 days; the deploy hook installs
### them and nginx reloads by itself. A failed attempt is logged and retried at the next interval.
### Stops at once on SIGTERM (docker stop).
set -eu
here=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)
# shellcheck source=SCRIPTDIR/lib.sh
. "$here/lib.sh"

hours=${RENEW_INTERVAL_HOURS:-48}
case "$hours" in
    '' | *[!0-9]* | 0) die "RENEW_INTERVAL_HOURS must be a whole number of hours, not '$hours'." ;;
esac

sleeper=
stop() {
    [ -z "$sleeper" ] || kill "$sleeper" 2>/dev/null || true
    log "renewal loop stopped"
    exit 0
}
trap stop TERM INT

ensure_placeholder
while :; do
    log "checking for certificates to renew"
    certbot_run renew --deploy-hook "$here/deploy-hook.sh" "$@" \
        || log "renewal failed (see $CERTBOT_LOGS_DIR/letsencrypt.log); next attempt in $hours h"
    sleep $((hours * 3600)) &
    sleeper=$!
    wait "$sleeper" || true
    sleeper=
done
