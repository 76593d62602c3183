# shellcheck shell=sh
# One server (DEPLOY_MODE=server): remote.sh's actions with docker compose, one by one. Sourced
# by remote.sh, which holds the shared helpers (fail, say, setting, poll, backup and restore).

# check_server, and the shared edge: what several deployments on one server must agree on.
# shellcheck source=edge.sh
. "$PARTS/edge.sh"

compose() {
    docker compose "$@"
}

# The services, as compose.yaml lists them.
services() {
    compose config --services
}

health_of() {
    compose ps --all --format '{{.State}} {{.Health}}' "$1" 2>/dev/null | head -n 1
}

require_running() {
    state="$(health_of "$1")"
    case "$state" in
        "running healthy") say "$1 is healthy" ;;
        *) fail "$1 is not running healthy (${state:-not created}): deploy it first with $2." ;;
    esac
}

# "IMAGE-ID IMAGE-NAME" of the running container of a service (empty when none runs): a failed
# deploy puts that version back under that name.
running_image() {
    container="$(compose ps --quiet "$1" 2>/dev/null | head -n 1)"
    [ -z "$container" ] || docker inspect --format '{{.Image}} {{.Config.Image}}' "$container" 2>/dev/null
}

# Whether the service's image changed since its running container was made.
image_changed() {
    running="$(running_image "$1")"
    [ -z "$running" ] \
        || [ "$(docker image inspect --format '{{.Id}}' "${running#* }" 2>/dev/null)" != "${running%% *}" ]
}

build() {
    check_server
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
    check_server
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

# Once per service and run (prestart does it before the migrations, up before replacing); an
# image that did not change since the running container was made needs no check.
checked=" "
checked_preflight() {
    case "$checked" in *" $1 "*) return 0 ;; esac
    if image_changed "$1" && ! preflight "$1"; then
        restore_image "$1" || true
        fail "the new $1 does not start (output above); the running version was left untouched: fix it and run the step again."
    fi
    checked="$checked$1 "
}

up() {
    check_server
    [ "$1" != db ] || db_volume_guard
    checked_preflight "$1"
    handover_start "$1"
    say "starting $1 and waiting until it is healthy (up to ${WAIT_TIMEOUT}s)"
    if ! compose up -d --no-deps --wait --wait-timeout "$WAIT_TIMEOUT" "$1"; then
        seen="$(show_log "$1")"
        if restore_image "$1"; then
            say "putting the previous $1 back"
            compose up -d --no-deps --wait --wait-timeout "$WAIT_TIMEOUT" "$1" || true
            handover_end
            fail "the new $1 did not become healthy ($seen); the previous version runs again: fix it and run the step again."
        fi
        handover_end
        fail "$1 did not become healthy ($seen; 'docker compose logs $1' on the server shows more)."
    fi
    handover_end
}

# The last lines of a service's log on stderr, under a heading; on stdout what the failure message
# should point at: the log, or compose's own error when the container never started (no log).
show_log() {
    log="$(compose logs --no-color --tail 30 "$1" 2>&1)" || log=""
    if [ -n "$log" ]; then
        printf '  --- the last lines of the %s log ---\n%s\n  ---\n' "$1" "$log" >&2
        echo "its log above"
    else
        echo "it never started, so it has no log: compose's error above says why"
    fi
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
    [ "$(health_of "$1")" = "running healthy" ] && image_changed "$1" || return 0
    standin="$(compose ps --format '{{.Name}}' "$1" | head -n 1)_next"
    docker rm --force "$standin" >/dev/null 2>&1 || true
    say "starting the new $1 beside the running one, to serve during the swap"
    if ! compose run --detach --no-deps --use-aliases --name "$standin" "$1" >/dev/null \
        || ! poll "$WAIT_TIMEOUT" container_healthy "$standin"; then
        docker logs --tail 30 "$standin" >&2 || true
        handover_end
        restore_image "$1" || true
        fail "the new $1 did not become healthy (its log above); the running version was left untouched: fix it and run the step again."
    fi
    # The edge looks the name up again every 2 s (resolver valid=2s): let it see the stand-in.
    sleep 3
}

# Healthy: 0; starting: 1 (poll again); stopped: 2 (poll gives up).
container_healthy() {
    case "$(docker inspect --format '{{.State.Status}} {{.State.Health.Status}}' "$1" 2>/dev/null)" in
        "running healthy") return 0 ;;
        running*) return 1 ;;
        *) return 2 ;;
    esac
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
    check_server
    say "making sure a certificate exists (self-signed placeholder if none)"
    compose run --rm --no-deps -T certbot bootstrap.sh placeholder \
        || fail "creating the placeholder certificate failed (output above)."
    up nginx
    if shared_edge; then
        edge_install
        edge_register
    fi
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

# The watcher's findings (docs/deployment.md, "Alerts: the watcher"): its first line says whether
# all is well. Its container's own state is in the list above.
watcher_report() {
    services | grep -qx watcher || return 0
    [ "$(health_of watcher)" != "" ] || { echo "watcher: not running (deploy_ssl starts it)"; return 1; }
    compose exec -T watcher python -m watcher now
}

status() {
    problems=0
    echo "containers:"
    for service in $(services); do
        state="$(health_of "$service")"
        # "running " is a service without a health check (certbot): running is all it can say.
        case "$state" in
            "running healthy" | "running ") mark=ok ;;
            *) mark=FAIL; problems=$((problems + 1)) ;;
        esac
        printf '  %-4s %-9s %s\n' "$mark" "$service" "${state:-not created}"
    done
    certificate_days || problems=$((problems + 1))
    backup_status_line || problems=$((problems + 1))
    watcher_report || problems=$((problems + 1))
    edge_status || problems=$((problems + 1))
    echo "disk use:"
    printf '  postgres_data %s\n' "$(compose exec -T db du -sh /var/lib/postgresql/data 2>/dev/null | cut -f1)"
    printf '  storage_data  %s\n' "$(compose exec -T storage du -sh /data 2>/dev/null | cut -f1)"
    df -h . | tail -n 1 | awk '{print "  server disk   " $3 " used, " $4 " free (" $5 ")"}'
    # The outbox: mails waiting (normal for a few seconds) and failed for good (each kept with the server's answer).
    printf 'outbox:\n  %s\n' "$(compose exec -T backend python -m app.manage outbox-status 2>/dev/null || echo 'unknown: the backend does not answer')"
    [ "$problems" -eq 0 ] || fail "$problems problem(s) found: see FAIL above and 'docker compose logs <service>' on the server."
}

# --- What backup and restore (remote.sh) run in this mode ---------------------------------------
backup_ready() { :; }

in_db() {
    compose exec -T db sh -c "$1"
}

# A one-off container of the storage image with its volume: storage may be stopped (restore).
in_storage() {
    compose run --rm --no-deps -T --entrypoint sh storage -c "$1"
}

archive_files() {
    compose exec -T storage sh -c "$FILES_OUT"
}

unpack_files_aside() {
    say "unpacking the stored files"
    in_storage "$FILES_ASIDE"
}

drop_files_aside() {
    in_storage "$FILES_DROP_ASIDE"
}

swap_files_in() {
    in_storage "$FILES_SWAP"
}

stop_writers() {
    say "stopping backend and storage"
    compose stop backend storage || fail "stopping backend and storage failed."
}

start_writers() {
    say "starting storage and backend again"
    up storage
    up backend
    reload_edge
}

# Nothing waits for the end of the run on one server; no action of its own.
finish() { :; }
mode_action() {
    case "$1" in
        site-remove:*) site_remove "${1#site-remove:}" ;;
        *) return 1 ;;
    esac
}
