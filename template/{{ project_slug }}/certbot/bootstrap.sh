#!/bin/sh
### Usage: bootstrap.sh placeholder | obtain
###
### The first certificate, in two steps around starting nginx (deploy_ssl runs them in the certbot
### container; the native runner can run them against another ACME server such as Pebble):
###   placeholder  Make sure nginx has a certificate to start with: a self-signed one if none is at
###                TLS_CERTIFICATE yet. Never replaces an existing one.
###   obtain       With nginx up and answering http://DOMAIN/.well-known/acme-challenge/ from
###                ACME_WEBROOT: get a certificate for DOMAIN and DOMAIN_ALIASES by HTTP-01
###                (`certbot certonly --webroot`) and install it at TLS_CERTIFICATE(_KEY). nginx picks
###                it up by itself within a minute (nginx/docker-entrypoint.d/40-certificate-watcher.sh)
###                or at once with `nginx -s reload`.
###                Idempotent: with a valid certificate for the same names from the same server, a
###                second run asks for nothing and changes no file.
### Settings come from the environment: see lib.sh. Exit status 0 on success, 1 with a message.
set -eu
here=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)
# shellcheck source=SCRIPTDIR/lib.sh
. "$here/lib.sh"

obtain() {
    require DOMAIN SSL_EMAIL ACME_WEBROOT
    ensure_placeholder
    server=$(acme_server)
    set -- --cert-name "$DOMAIN" -d "$DOMAIN"
    for alias in ${DOMAIN_ALIASES:-}; do
        set -- "$@" -d "$alias"
    done
    # Moving between servers (staging to production) must replace the certificate even if the one
    # at hand is still valid; certbot would keep it otherwise.
    renewal_conf="$CERTBOT_CONFIG_DIR/renewal/$DOMAIN.conf"
    if [ -f "$renewal_conf" ] && ! grep -qxF "server = $server" "$renewal_conf"; then
        log "the current certificate comes from another ACME server: replacing it"
        set -- "$@" --force-renewal
    fi
    mkdir -p "$ACME_WEBROOT"
    log "asking $server for a certificate for $DOMAIN ${DOMAIN_ALIASES:-}"
    certbot_run certonly --webroot -w "$ACME_WEBROOT" --server "$server" \
        --agree-tos -m "$SSL_EMAIL" --no-eff-email --keep-until-expiring --expand \
        --deploy-hook "$here/deploy-hook.sh" "$@" \
        || die "certbot could not obtain a certificate. Check that $DOMAIN resolves to this server, that port 80 is open and that nginx serves $ACME_WEBROOT (log: $CERTBOT_LOGS_DIR/letsencrypt.log)."
    # The deploy hook installs a new certificate; this covers one obtained by an earlier run whose
    # installation did not happen (e.g. the served files were removed).
    live="$CERTBOT_CONFIG_DIR/live/$DOMAIN"
    if ! cmp -s "$live/fullchain.pem" "$TLS_CERTIFICATE"; then
        install_certificate "$live/fullchain.pem" "$live/privkey.pem"
    else
        log "the certificate in place is current: nothing to do"
    fi
}

case "${1:-}" in
    placeholder) ensure_placeholder ;;
    obtain) obtain ;;
    *) sed -n 's/^### \{0,1\}//p' "$0" >&2; exit 2 ;;
esac
