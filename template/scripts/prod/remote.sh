#!/bin/sh
### Usage: sh REMOTE_DIR/.deploy/remote.sh ACTION...
###
### The server side of the deploy scripts. The .bat and .sh scripts of this folder upload it to
### REMOTE_DIR/.deploy/ and run it over ssh with the actions of their step (see generate.py), e.g.
###   remote.sh env install:backend.tar.gz:closo/backend require:db@deploy_bdd build:backend up:backend
### Actions run in order; the first failure stops the run with a message and exit status 1.
### It runs on the server only (POSIX sh + docker compose), so Windows and Linux operators share it.
set -eu
umask 077

# REMOTE_DIR is the parent of the folder holding this script.
cd "$(dirname "$0")/.."
WAIT_TIMEOUT="${DEPLOY_WAIT_TIMEOUT:-300}"

fail() {
    printf '  [x] %s\n' "$*" >&2
    exit 1
}

say() {
    printf '  - %s\n' "$*" >&2
}

compose() {
    docker compose "$@"
}

check_docker() {
    command -v docker >/dev/null 2>&1 \
        || fail "docker is not installed on the server: install Docker Engine (docs/deployment.md, 'Server')."
    docker compose version >/dev/null 2>&1 \
        || fail "the docker compose plugin is missing or docker is not usable by $(id -un): install docker-compose-plugin and add the user to the docker group."
}

check_env() {
    [ -s .env ] || fail ".env is missing in $(pwd): run a deploy_* script, which sends it."
}

# .env arrives on stdin (over the ssh channel): written atomically, readable by its owner only.
# It never replaces secrets the running stack depends on: PostgreSQL keeps the password it was
# created with, so a .env made elsewhere (a new clone, `stack.py secrets`) would lock the backend
# out of its database. Rotating a secret is a deliberate step (docs/deployment.md).
receive_env() {
    (umask 077 && cat > .env.incoming)
    [ -s .env.incoming ] || { rm -f .env.incoming; fail "received an empty .env: check the local .env."; }
    if [ -f .env ]; then
        for name in POSTGRES_PASSWORD SECRET_KEY STORAGE_TOKEN; do
            if [ "$(secret_of .env "$name")" != "$(secret_of .env.incoming "$name")" ]; then
                rm -f .env.incoming
                fail "your .env has another $name than the server's $(pwd)/.env, which the running stack uses: nothing was changed. Copy the server's .env to your project folder (scp) and run the step again; to rotate secrets, follow docs/deployment.md."
            fi
        done
    fi
    mv .env.incoming .env
    say ".env updated (mode 600)"
}

secret_of() {
    sed -n "s/^$2=//p" "$1" | tail -n 1
}

# A value of settings.env, or of settings.site.env where the site sets it (tracked settings; the
# secrets in .env are never read here).
setting() {
    cat settings.env settings.site.env 2>/dev/null | sed -n "s/^$1=//p" | tail -n 1
}

# install:ARCHIVE:PATH+PATH: unpack the upload aside, then swap each path in, so a path removed
# locally disappears on the server too and a broken upload leaves the old files in place.
install_paths() {
    archive="$1"
    paths="$2"
    [ -f ".deploy/$archive" ] || fail "upload .deploy/$archive not found: run the step again."
    rm -rf .deploy/staging
    mkdir -p .deploy/staging
    # umask 022 here, not the script's 077: the images copy these files as they are, and their
    # services run as an unprivileged user who must be able to read them.
    (umask 022 && tar -xzf ".deploy/$archive" -C .deploy/staging) \
        || fail "cannot unpack .deploy/$archive (disk full?)."
    old_ifs="$IFS"
    IFS='+'
    for path in $paths; do
        case "$path" in
            /* | *..*) fail "refusing to install the unsafe path '$path'." ;;
        esac
        [ -e ".deploy/staging/$path" ] || fail "'$path' is missing from the upload."
        mkdir -p "$(dirname "$path")"
        rm -rf "$path"
        mv ".deploy/staging/$path" "$path"
    done
    IFS="$old_ifs"
    chmod -R go-w . 2>/dev/null || true
    rm -rf .deploy/staging ".deploy/$archive"
    say "installed $(echo "$paths" | tr '+' ' ')"
}

health_of() {
    compose ps --all --format '{{.State}} {{.Health}}' "$1" 2>/dev/null | head -n 1
}

require_healthy() {
    service="$1"
    script="$2"
    state="$(health_of "$service")"
    case "$state" in
        "running healthy") say "$service is healthy" ;;
        *) fail "$service is not running healthy (${state:-not created}): deploy it first with $script." ;;
    esac
}

# "IMAGE-ID IMAGE-NAME" of the running container of a service (empty when none runs): a failed
# deploy puts that version back under that name.
running_image() {
    container="$(compose ps --quiet "$1" 2>/dev/null | head -n 1)"
    [ -z "$container" ] || docker inspect --format '{{.Image}} {{.Config.Image}}' "$container" 2>/dev/null
}

build() {
    say "building the $1 image"
    running_image "$1" > ".deploy/previous-$1.image" || true
    compose build "$1" || fail "building the $1 image failed (output above): fix it and run the step again."
}

# After a failure, the service's tag names the version that ran before, so nothing starts the
# failed build later (another step's `up`, a reboot). Status 1 when there was no earlier version.
restore_image() {
    previous="$(cat ".deploy/previous-$1.image" 2>/dev/null || true)"
    [ -n "$previous" ] || return 1
    # shellcheck disable=SC2086 # "ID NAME": two arguments
    docker image tag $previous
}

prestart() {
    checked_preflight "$1"
    say "running the $1 pre-start (database migrations, first admin)"
    compose run --rm --no-deps -T "$1" python -m app.prestart || {
        restore_image "$1" || true
        fail "the $1 pre-start failed (output above); the running version was left untouched."
    }
}

# Before a new version replaces the running one: does it start at all? The Python services must
# import their app (settings included), the nginx ones accept their configuration.
preflight() {
    case "$1" in
        backend | storage) set -- "$1" python -c "import app.main" ;;
        frontend | nginx) set -- "$1" nginx -t -q ;;
        *) return 0 ;;
    esac
    say "checking that the new $1 starts"
    compose run --rm --no-deps -T "$@" >&2
}

# Once per service and run (prestart does it before the migrations, up before replacing).
checked=" "
checked_preflight() {
    case "$checked" in *" $1 "*) return 0 ;; esac
    # An image that did not change since the running container was made needs no check.
    running="$(running_image "$1")"
    if [ -n "$running" ] \
        && [ "$(docker image inspect --format '{{.Id}}' "${running#* }" 2>/dev/null)" = "${running%% *}" ]; then
        checked="$checked$1 "
        return 0
    fi
    if ! preflight "$1"; then
        restore_image "$1" || true
        fail "the new $1 does not start (output above); the running version was left untouched: fix it and run the step again."
    fi
    checked="$checked$1 "
}

up() {
    checked_preflight "$1"
    handover_start "$1"
    say "starting $1 and waiting until it is healthy (up to ${WAIT_TIMEOUT}s)"
    if ! compose up -d --no-deps --wait --wait-timeout "$WAIT_TIMEOUT" "$1"; then
        compose logs --tail 30 "$1" >&2 || true
        if restore_image "$1"; then
            say "putting the previous $1 back"
            compose up -d --no-deps --wait --wait-timeout "$WAIT_TIMEOUT" "$1" || true
            handover_end
            fail "the new $1 did not become healthy (its log above); the previous version runs again: fix it and run the step again."
        fi
        handover_end
        fail "$1 did not become healthy: see its log above ('docker compose logs $1' on the server)."
    fi
    handover_end
}

# A new backend or storage replaces the running one without a gap for visitors. compose stops a
# service's container before it starts the new one (container_name is fixed), and the API is
# unreachable until the new one has run its pre-start and imported the app. So a stand-in of the
# new version starts first, beside the running container and under the service's network name
# (`compose run --use-aliases`). The edge follows the name's addresses (edge-http.conf) and
# balances over both, passing a request whose connection fails to the other; the backend reaches
# storage by the same name. Once the stand-in is healthy, compose replaces the service's container
# while the stand-in serves; once that one is healthy, the stand-in stops. A new version that
# does not become healthy never stops the running one. Only when the image changed: a container
# that compose keeps needs no stand-in, and one that is not running has nothing to hand over.
standin=""
handover_start() {
    case "$1" in backend | storage) ;; *) return 0 ;; esac
    [ "$(health_of "$1")" = "running healthy" ] || return 0
    running="$(running_image "$1")"
    [ "$(docker image inspect --format '{{.Id}}' "${running#* }" 2>/dev/null)" != "${running%% *}" ] \
        || return 0
    standin="$(compose ps --format '{{.Name}}' "$1" | head -n 1)_next"
    docker rm --force "$standin" >/dev/null 2>&1 || true
    say "starting the new $1 beside the running one, to serve during the swap"
    if ! compose run --detach --no-deps --use-aliases --name "$standin" "$1" >/dev/null \
        || ! wait_container_healthy "$standin"; then
        docker logs --tail 30 "$standin" >&2 || true
        handover_end
        restore_image "$1" || true
        fail "the new $1 did not become healthy (its log above); the running version was left untouched: fix it and run the step again."
    fi
    # The edge looks the name up again every 2 s (resolver valid=2s): let it see the stand-in.
    sleep 3
}

wait_container_healthy() {
    waited=0
    while [ "$waited" -lt "$WAIT_TIMEOUT" ]; do
        case "$(docker inspect --format '{{.State.Status}} {{.State.Health.Status}}' "$1" 2>/dev/null)" in
            "running healthy") return 0 ;;
            running*) ;;
            *) return 1 ;;
        esac
        sleep 1
        waited=$((waited + 1))
    done
    return 1
}

handover_end() {
    [ -n "$standin" ] || return 0
    # Again, the edge sees the service's new container before the stand-in goes; the stand-in
    # finishes the requests it holds (SIGTERM, as `docker compose stop` does).
    sleep 3
    docker stop "$standin" >/dev/null 2>&1 || true
    docker rm --force "$standin" >/dev/null 2>&1 || true
    standin=""
}

# An edge whose upstream groups follow the services' names (UPSTREAM_RESOLVE=resolve, its image)
# reaches a recreated container by itself: no reload, whose new workers would start with empty
# pools. One deployed by an older template looked the names up at start only: reload it.
reload_edge() {
    if [ "$(health_of nginx)" = "running healthy" ]; then
        if [ "$(compose exec -T nginx printenv UPSTREAM_RESOLVE 2>/dev/null)" = "resolve" ]; then
            say "the edge follows the new containers by itself"
            return 0
        fi
        compose exec -T nginx nginx -s reload || fail "reloading nginx failed: see 'docker compose logs nginx'."
        say "nginx reloaded"
    fi
}

# The first certificate: a self-signed placeholder lets nginx start, then certbot replaces it
# through the HTTP challenge served by nginx; later runs keep the existing certificate.
certificate() {
    say "making sure a certificate exists (self-signed placeholder if none)"
    compose run --rm --no-deps -T certbot bootstrap.sh placeholder \
        || fail "creating the placeholder certificate failed (output above)."
    up nginx
    say "requesting the Let's Encrypt certificate if only the placeholder exists"
    compose run --rm --no-deps -T certbot bootstrap.sh obtain \
        || fail "Let's Encrypt refused the certificate (output above): check that DNS points at this server and that port 80 is open (docs/deployment.md, 'DNS and firewall')."
    compose exec -T nginx nginx -s reload || fail "reloading nginx failed: see 'docker compose logs nginx'."
}

certificate_days() {
    domain="$(setting DOMAIN)"
    end="$(compose exec -T certbot openssl x509 -enddate -noout \
        -in "/etc/letsencrypt/served/$domain/fullchain.pem" 2>/dev/null | sed -n 's/^notAfter=//p')" || true
    if [ -z "$end" ]; then
        echo "certificate: none found for $domain (run deploy_ssl)"
        return 1
    fi
    end_s="$(date -u -d "$end" +%s 2>/dev/null)" || { echo "certificate: expires $end"; return 0; }
    days=$(( (end_s - $(date -u +%s)) / 86400 ))
    echo "certificate: $domain expires in $days days ($end)"
    [ "$days" -ge 14 ] || { echo "  [x] the certificate expires soon: check 'docker compose logs certbot'."; return 1; }
}

status() {
    problems=0
    echo "containers:"
    for service in db storage backend frontend nginx certbot; do
        state="$(health_of "$service")"
        case "$service:$state" in
            *":running healthy" | "certbot:running "*) mark=ok ;;
            *) mark=FAIL; problems=$((problems + 1)) ;;
        esac
        printf '  %-4s %-9s %s\n' "$mark" "$service" "${state:-not created}"
    done
    certificate_days || problems=$((problems + 1))
    echo "disk use:"
    printf '  postgres_data %s\n' "$(compose exec -T db du -sh /var/lib/postgresql/data 2>/dev/null | cut -f1)"
    printf '  storage_data  %s\n' "$(compose exec -T storage du -sh /data 2>/dev/null | cut -f1)"
    df -h . | tail -n 1 | awk '{print "  server disk   " $3 " used, " $4 " free (" $5 ")"}'
    [ "$problems" -eq 0 ] || fail "$problems problem(s) found: see FAIL above and 'docker compose logs <service>' on the server."
}

# pg_dump is a consistent snapshot; the files are archived after it, so every file the dump
# references is in the archive (files uploaded in between are harmless extras).
backup() {
    name="$(date -u +%Y%m%d-%H%M%S)"
    mkdir -p "backups/$name"
    say "dumping the database"
    # shellcheck disable=SC2016 # expanded by the shell inside the db container
    compose exec -T db sh -c 'pg_dump -U "$POSTGRES_USER" -d "$POSTGRES_DB" -Fc' > "backups/$name/db.dump" \
        || fail "pg_dump failed: is the database running? (deploy_bdd, status)"
    say "archiving the storage volume"
    compose exec -T storage tar -czf - -C /data . > "backups/$name/storage.tar.gz" \
        || fail "archiving the storage volume failed: is storage running? (deploy_slave_storage, status)"
    # The only line on stdout: the local script reads the backup's name from it.
    echo "$name"
}

restore() {
    name="$1"
    case "$name" in
        "" | *[!0-9-]*) fail "'$name' is not a backup name such as 20250101-120000." ;;
    esac
    [ -f "backups/$name/db.dump" ] && [ -f "backups/$name/storage.tar.gz" ] \
        || fail "backups/$name is incomplete on the server: upload it again."
    say "stopping backend and storage"
    compose stop backend storage || fail "stopping backend and storage failed."
    # Unpack beside the current files first: a broken archive changes nothing.
    say "unpacking the stored files"
    compose run --rm --no-deps -T --entrypoint sh storage -c \
        'rm -rf /data/.restoring && mkdir /data/.restoring && tar -xzf - -C /data/.restoring' \
        < "backups/$name/storage.tar.gz" \
        || restart_and_fail "unpacking backups/$name/storage.tar.gz failed (output above); nothing was changed."
    say "restoring the database"
    # shellcheck disable=SC2016 # expanded by the shell inside the db container
    compose exec -T db sh -c \
        'pg_restore -U "$POSTGRES_USER" -d "$POSTGRES_DB" --clean --if-exists --no-owner --single-transaction' \
        < "backups/$name/db.dump" || {
        compose run --rm --no-deps -T --entrypoint sh storage -c 'rm -rf /data/.restoring'
        restart_and_fail "pg_restore failed (output above); the database and the files are unchanged."
    }
    say "swapping the restored files in"
    swap='cd /data && find . -mindepth 1 -maxdepth 1 ! -name .restoring -exec rm -rf {} +'
    # shellcheck disable=SC2016 # expanded by the shell inside the storage container
    swap="$swap"' && cd .restoring && for f in * .[!.]* ..?*; do if [ -e "$f" ]; then mv "$f" /data/; fi; done'
    compose run --rm --no-deps -T --entrypoint sh storage -c "$swap && cd /data && rmdir .restoring" \
        || fail "the database is restored but swapping the files failed (output above): run restore again."
    up storage
    up backend
    reload_edge
}

# After a failed restore step that changed nothing: the site comes back as it was.
restart_and_fail() {
    say "starting storage and backend again"
    up storage
    up backend
    fail "$1"
}

main() {
    [ "$#" -gt 0 ] || fail "no action given (see the Usage lines at the top of this file)."
    check_docker
    for action in "$@"; do
        case "$action" in
            env) receive_env ;;
            install:*:*)
                rest="${action#install:}"
                install_paths "${rest%%:*}" "${rest#*:}"
                ;;
            require:*@*)
                rest="${action#require:}"
                check_env
                require_healthy "${rest%%@*}" "${rest#*@}"
                ;;
            build:*) build "${action#build:}" ;;
            prestart:*) prestart "${action#prestart:}" ;;
            up:*) up "${action#up:}" ;;
            reload-edge) reload_edge ;;
            certificate) certificate ;;
            status) check_env; status ;;
            backup) check_env; backup ;;
            restore:*) check_env; restore "${action#restore:}" ;;
            *) fail "unknown action '$action' (see the Usage lines at the top of this file)." ;;
        esac
    done
}

main "$@"
