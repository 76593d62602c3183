# shellcheck shell=sh
# Helpers shared by the certbot scripts (sourced, not run). POSIX sh.
#
# Settings, from the environment (the certbot container gets settings.env plus the paths below):
#   DOMAIN, DOMAIN_ALIASES     names on the certificate (DOMAIN first; aliases space-separated)
#   SSL_EMAIL                  Let's Encrypt account e-mail (expiry warnings)
#   CERTBOT_STAGING            1: Let's Encrypt's staging server (untrusted certificates, high limits)
#   ACME_SERVER                directory URL of another ACME server (Pebble in tests); wins over staging
#   ACME_WEBROOT               folder nginx serves under /.well-known/acme-challenge/
#   TLS_CERTIFICATE, TLS_CERTIFICATE_KEY
#                              the files nginx serves (docs/CONTRACTS.md); written only by these scripts
#   CERTBOT                    certbot command (default: certbot)
#   CERTBOT_CONFIG_DIR, CERTBOT_WORK_DIR, CERTBOT_LOGS_DIR
#                              certbot's folders (default: /etc/letsencrypt, /var/lib/letsencrypt,
#                              /var/log/letsencrypt)
# certbot reaches the ACME server with the CA bundle named by REQUESTS_CA_BUNDLE, if set.

CERTBOT=${CERTBOT:-certbot}
CERTBOT_CONFIG_DIR=${CERTBOT_CONFIG_DIR:-/etc/letsencrypt}
CERTBOT_WORK_DIR=${CERTBOT_WORK_DIR:-/var/lib/letsencrypt}
CERTBOT_LOGS_DIR=${CERTBOT_LOGS_DIR:-/var/log/letsencrypt}
LETSENCRYPT_PRODUCTION=https://acme-v02.api.letsencrypt.org/directory
LETSENCRYPT_STAGING=https://acme-staging-v02.api.letsencrypt.org/directory

log() {
    printf '%s certbot: %s\n' "$(date -u '+%Y-%m-%dT%H:%M:%SZ')" "$*" >&2
}

die() {
    log "ERROR: $*"
    exit 1
}

require() {
    for name in "$@"; do
        eval "value=\${$name:-}"
        [ -n "$value" ] || die "$name is not set: it comes from settings.env."
    done
}

acme_server() {
    if [ -n "${ACME_SERVER:-}" ]; then
        printf '%s\n' "$ACME_SERVER"
    elif [ "${CERTBOT_STAGING:-0}" = 1 ]; then
        printf '%s\n' "$LETSENCRYPT_STAGING"
    else
        printf '%s\n' "$LETSENCRYPT_PRODUCTION"
    fi
}

certbot_run() {
    "$CERTBOT" --config-dir "$CERTBOT_CONFIG_DIR" --work-dir "$CERTBOT_WORK_DIR" \
        --logs-dir "$CERTBOT_LOGS_DIR" --non-interactive "$@"
}

# Copy a certificate and its key to the served paths. Each file is replaced by a rename, key first:
# the watcher in the nginx container reloads when the certificate changes, and then finds its key.
install_certificate() {
    fullchain=$1 privkey=$2
    mkdir -p "$(dirname "$TLS_CERTIFICATE")" "$(dirname "$TLS_CERTIFICATE_KEY")"
    (umask 077 && cp "$privkey" "$TLS_CERTIFICATE_KEY.new")
    mv -f "$TLS_CERTIFICATE_KEY.new" "$TLS_CERTIFICATE_KEY"
    cp "$fullchain" "$TLS_CERTIFICATE.new"
    chmod 644 "$TLS_CERTIFICATE.new"
    mv -f "$TLS_CERTIFICATE.new" "$TLS_CERTIFICATE"
    log "installed $fullchain as $TLS_CERTIFICATE"
}

# A self-signed certificate so nginx can start before the first real one exists. Never replaces
# a certificate that is already there.
ensure_placeholder() {
    require DOMAIN TLS_CERTIFICATE TLS_CERTIFICATE_KEY
    [ -s "$TLS_CERTIFICATE" ] && [ -s "$TLS_CERTIFICATE_KEY" ] && return 0
    command -v openssl >/dev/null || die "openssl not found: install it (apk add openssl / apt-get install openssl)."
    scratch=$(mktemp -d)
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
        -subj "/CN=$DOMAIN/O=Placeholder until certbot obtains the real certificate" \
        -addext "subjectAltName=DNS:$DOMAIN" \
        -keyout "$scratch/privkey.pem" -out "$scratch/fullchain.pem" 2>/dev/null \
        || { rm -rf "$scratch"; die "openssl could not create the placeholder certificate."; }
    install_certificate "$scratch/fullchain.pem" "$scratch/privkey.pem"
    rm -rf "$scratch"
    log "placeholder certificate for $DOMAIN in place: nginx can start; run the bootstrap for a real one"
}
