#!/bin/sh
### Usage: 40-certificate-watcher.sh [--foreground [nginx option...]]
###
### Reloads nginx when the certificate it serves changes, so a renewal by the certbot container
### reaches clients without a person and without a Docker socket: certbot's deploy hook replaces
### TLS_CERTIFICATE(_KEY) in the shared volume; this loop notices within CERTIFICATE_CHECK_SECONDS
### (default 60) and runs `nginx -s reload` (a graceful reload: open connections finish).
###
### In the nginx image it runs from /docker-entrypoint.d/ before nginx starts: it waits up to
### CERTIFICATE_WAIT_SECONDS (default 120) for the certificate (the certbot container puts a
### placeholder there), then watches in the background. With --foreground it watches in the
### foreground and passes the remaining options to nginx (e.g. -p PREFIX -c conf/nginx.conf).
set -eu

log() {
    printf '%s certificate-watcher: %s\n' "$(date -u '+%Y-%m-%dT%H:%M:%SZ')" "$*" >&2
}

: "${TLS_CERTIFICATE:?TLS_CERTIFICATE is not set (see docs/CONTRACTS.md)}"
: "${TLS_CERTIFICATE_KEY:?TLS_CERTIFICATE_KEY is not set (see docs/CONTRACTS.md)}"
interval=${CERTIFICATE_CHECK_SECONDS:-60}

fingerprint() {
    cat "$TLS_CERTIFICATE" "$TLS_CERTIFICATE_KEY" 2>/dev/null | cksum
}

watch() {
    served=$(fingerprint)
    while sleep "$interval"; do
        current=$(fingerprint)
        [ "$current" != "$served" ] || continue
        # The certificate and the key are replaced one after the other: reload only a matching
        # pair, which `nginx -t` checks; a half-written pair is retried at the next tick.
        if nginx "$@" -t -q 2>/dev/null; then
            nginx "$@" -s reload && served=$current && log "new certificate: nginx reloaded"
        else
            log "certificate changed but nginx -t fails; retrying in ${interval}s"
        fi
    done
}

if [ "${1:-}" = --foreground ]; then
    shift
    watch "$@"
fi

waited=0
wait_limit=${CERTIFICATE_WAIT_SECONDS:-120}
until [ -s "$TLS_CERTIFICATE" ] && [ -s "$TLS_CERTIFICATE_KEY" ]; do
    if [ "$waited" -ge "$wait_limit" ]; then
        log "no certificate at $TLS_CERTIFICATE after ${wait_limit}s: start the certbot service (it puts a placeholder there) and check that both containers mount the certificate volume."
        exit 1
    fi
    [ "$waited" -gt 0 ] || log "waiting for $TLS_CERTIFICATE"
    sleep 2
    waited=$((waited + 2))
done
watch &
log "watching $TLS_CERTIFICATE every ${interval}s"
