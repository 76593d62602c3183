#!/bin/sh
### Usage: sh REMOTE_DIR/.deploy/remote_swarm.sh ACTION...
###
### The server side of the swarm_* scripts (deploy_mode=swarm), run on a manager of the swarm after
### remote.sh has received .env and installed the upload, e.g.
###   remote_swarm.sh images stack-deploy stack-certificate
### Actions run in order; the first failure stops the run with a message and exit status 1:
###   swarm-init          make this server a swarm manager (if it is none yet), label it as the
###                       node of the edge and the database, print the command that joins workers
###   images              build the images, tag them by content, push them to SWARM_REGISTRY
###   images-tag          the same without pushing (a one-node swarm, or images loaded by hand)
###   stack-deploy        secrets from .env, the first certificate's placeholder, `docker stack
###                       deploy`, then wait until every service runs its replicas, healthy
###   stack-certificate   the Let's Encrypt certificate if only the placeholder exists
###   stack-status        every service, its replicas and where each task runs; exit 1 if short
###   stack-scale:SERVICE=N
###   stack-backup        pg_dump plus the stored files (the bucket with s3); prints the name
###   stack-restore:NAME  replace the database and the stored files with backups/NAME
### Environment: DEPLOY_WAIT_TIMEOUT (s, default 300), SWARM_ADVERTISE_ADDR and SWARM_INIT_OPTS
### (swarm-init), STACK_RESOLVE_IMAGE (always|changed|never, default always), and any setting
### of the swarm section of settings.env, which wins over the file for one run.
set -eu
umask 077

cd "$(dirname "$0")/.."
WAIT_TIMEOUT="${DEPLOY_WAIT_TIMEOUT:-300}"
TAGS_FILE=.deploy/image-tags.env
IMAGES="storage backend frontend nginx certbot"
SECRETS="POSTGRES_PASSWORD SECRET_KEY FIRST_ADMIN_PASSWORD STORAGE_TOKEN"

fail() {
    printf '  [x] %s\n' "$*" >&2
    exit 1
}

say() {
    printf '  - %s\n' "$*" >&2
}

# A value of settings.env (tracked settings), or of .env (secrets) with a second argument.
setting() {
    sed -n "s/^$1=//p" "${2:-settings.env}" | tail -n 1
}

# The stack is named after the project (PROJECT_SLUG, passed by the swarm_* scripts).
SLUG="${PROJECT_SLUG:-$(sed -n 's/^name: *//p' compose.yaml 2>/dev/null | head -n 1)}"
STACK="$SLUG"

check_swarm() {
    [ -f stack.yaml ] || fail "stack.yaml is missing in $(pwd): this project was generated with deploy_mode=server (copier update --data deploy_mode=swarm)."
    [ -n "$SLUG" ] || fail "PROJECT_SLUG is not set and compose.yaml is missing in $(pwd): run the swarm_* scripts."
    state="$(docker info --format '{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}' 2>/dev/null)" \
        || fail "docker is not usable by $(id -un) on this server: install Docker Engine and add the user to the docker group."
    [ "$state" = "active true" ] || fail "this server is not a swarm manager ($state): run swarm_init first."
}

# The swarm settings the stack file reads, from settings.env unless the environment has them.
export_settings() {
    # (sh has no local variables: these loops use names no caller uses.)
    for swarm_setting in SWARM_REGISTRY SWARM_REPLICAS SWARM_DB_REPLICAS SWARM_SUBNET HTTP_PORT HTTPS_PORT; do
        if [ -z "$(eval "printf '%s' \"\${$swarm_setting:-}\"")" ]; then
            swarm_value="$(setting "$swarm_setting")"
            [ -z "$swarm_value" ] || export "$swarm_setting=$swarm_value"
        fi
    done
    [ -n "${SWARM_REGISTRY:-}" ] \
        || fail "SWARM_REGISTRY is empty in settings.env: set it to the registry your nodes pull from (docs/deployment.md, 'Growing past one server')."
    if [ -f "$TAGS_FILE" ]; then
        while IFS='=' read -r tag_name tag_value; do
            case "$tag_name" in *_TAG) export "$tag_name=$tag_value" ;; esac
        done < "$TAGS_FILE"
    fi
}

upper() {
    printf '%s' "$1" | tr '[:lower:]' '[:upper:]'
}

swarm_init() {
    state="$(docker info --format '{{.Swarm.LocalNodeState}}')" || fail "docker is not usable by $(id -un)."
    if [ "$state" != active ]; then
        say "creating the swarm (this server becomes its manager)"
        # shellcheck disable=SC2086 # SWARM_INIT_OPTS holds several options
        docker swarm init ${SWARM_ADVERTISE_ADDR:+--advertise-addr "$SWARM_ADVERTISE_ADDR"} ${SWARM_INIT_OPTS:-} >/dev/null \
            || fail "docker swarm init failed (above): with several addresses, set SWARM_ADVERTISE_ADDR to the one the other servers reach."
    fi
    node="$(docker info --format '{{.Swarm.NodeID}}')"
    docker node update --label-add "$SLUG.edge=true" --label-add "$SLUG.db=true" "$node" >/dev/null \
        || fail "labelling this node failed: is it a manager? (docker node ls)"
    say "this node runs the edge, certbot and PostgreSQL (labels $SLUG.edge, $SLUG.db)"
    echo "To add a server, run this on it (Docker Engine installed, ports 2377, 7946 and 4789/udp open between servers):"
    echo "  $(docker swarm join-token worker | grep 'docker swarm join')"
}

# Each image is tagged with its content's id, so a deploy changes only the services whose image
# changed (an unchanged edge is not restarted).
images() {
    push="$1"
    export_settings
    say "building the images"
    # shellcheck disable=SC2086 # one argument per image
    docker compose build $IMAGES || fail "building the images failed (output above): fix it and run swarm_deploy again."
    : > "$TAGS_FILE.new"
    for image in $IMAGES; do
        id="$(docker image inspect --format '{{.Id}}' "$SLUG/$image:latest")" || fail "the $image image is missing after the build."
        tag="c$(printf '%s' "$id" | sed 's/^sha256://' | cut -c1-12)"
        target="$SWARM_REGISTRY/$SLUG/$image:$tag"
        docker tag "$SLUG/$image:latest" "$target" || fail "tagging $target failed."
        if [ "$push" = push ]; then
            docker push --quiet "$target" >/dev/null \
                || fail "pushing $target failed: log in to the registry on this server (docker login ${SWARM_REGISTRY%%/*}) and check SWARM_REGISTRY."
            say "pushed $target"
        fi
        echo "$(upper "$image")_TAG=$tag" >> "$TAGS_FILE.new"
    done
    mv "$TAGS_FILE.new" "$TAGS_FILE"
}

# Docker secrets are created from these files at the first deploy and never changed after: a
# .env with other values stops the deploy instead of locking the backend out of its database.
write_secrets() {
    [ -s .env ] || fail ".env is missing in $(pwd): run swarm_deploy, which sends it."
    names="$SECRETS"
    [ "$(setting STORAGE_BACKEND)" != s3 ] || names="$names S3_ACCESS_KEY_ID S3_SECRET_ACCESS_KEY"
    mkdir -p .secrets
    chmod 700 .secrets
    for secret in $names; do
        secret_value="$(setting "$secret" .env)"
        [ -n "$secret_value" ] || fail "$secret is empty in .env (see .env.example)."
        printf '%s' "$secret_value" > ".secrets/$secret"
    done
}

# certbot's image makes a self-signed placeholder in the certificate volume if it holds none,
# so the edge can start before Let's Encrypt has answered (run on the edge's node: this one).
placeholder_certificate() {
    export_settings
    domain="$(setting DOMAIN)"
    docker run --rm --env-file settings.env \
        -e ACME_WEBROOT=/var/www/certbot \
        -e "TLS_CERTIFICATE=/etc/letsencrypt/served/$domain/fullchain.pem" \
        -e "TLS_CERTIFICATE_KEY=/etc/letsencrypt/served/$domain/privkey.pem" \
        -e CERTBOT_LOGS_DIR=/etc/letsencrypt/logs \
        -v "${SLUG}_letsencrypt:/etc/letsencrypt" -v "${SLUG}_acme_webroot:/var/www/certbot" \
        "$SWARM_REGISTRY/$SLUG/certbot:$CERTBOT_TAG" bootstrap.sh placeholder >&2 \
        || fail "creating the placeholder certificate failed (output above)."
}

stack_deploy() {
    export_settings
    [ -n "${BACKEND_TAG:-}" ] || fail "no image tags yet: run swarm_deploy, which builds and pushes the images."
    write_secrets
    placeholder_certificate
    say "deploying the stack $STACK"
    docker stack deploy --with-registry-auth --prune --resolve-image "${STACK_RESOLVE_IMAGE:-always}" \
        -c stack.yaml "$STACK" >&2 || fail "docker stack deploy failed (output above)."
    wait_converged
}

# Every service at its replica count, and no update still running or rolled back.
wait_converged() {
    say "waiting until every service runs its replicas, healthy (up to ${WAIT_TIMEOUT}s)"
    deadline=$(( $(date +%s) + WAIT_TIMEOUT ))
    while :; do
        pending=""
        for service in $(docker stack services --format '{{.Name}}' "$STACK"); do
            replicas="$(docker service ls --filter "name=$service" --format '{{.Name}} {{.Replicas}}' | awk -v s="$service" '$1 == s {print $2}')"
            update="$(docker service inspect --format '{{json .UpdateStatus}}' "$service" | sed -n 's/.*"State":"\([a-z_]*\)".*/\1/p')"
            case "$update" in
                rollback_*) fail "$service was rolled back: its new tasks failed their health check ('docker service ps --no-trunc $service')." ;;
                paused) fail "the update of $service is paused: see 'docker service ps --no-trunc $service'." ;;
            esac
            running="${replicas%%/*}"
            wanted="${replicas#*/}"
            wanted="${wanted%% *}"
            if [ "$running" != "$wanted" ] || [ "$update" = updating ]; then
                pending="$pending $service($replicas${update:+ $update})"
            fi
        done
        [ -n "$pending" ] || break
        [ "$(date +%s)" -lt "$deadline" ] || fail "not converged after ${WAIT_TIMEOUT}s:$pending (see swarm_status and 'docker service ps SERVICE')."
        sleep 2
    done
    say "every service runs its replicas"
}

# The running task of SERVICE on this node (the edge's and the database's node).
local_container() {
    docker ps --quiet --filter "label=com.docker.swarm.service.name=${STACK}_$1" --filter status=running | head -n 1
}

stack_certificate() {
    check_swarm
    certbot="$(local_container certbot)"
    nginx="$(local_container nginx)"
    [ -n "$certbot" ] && [ -n "$nginx" ] || fail "certbot and nginx do not run on this node: run swarm_init here (the edge's node) and swarm_deploy."
    say "requesting the Let's Encrypt certificate if only the placeholder exists"
    docker exec "$certbot" bootstrap.sh obtain \
        || fail "Let's Encrypt refused the certificate (output above): check that DNS points at this server and that port 80 is open (docs/deployment.md, 'DNS and firewall')."
    docker exec "$nginx" nginx -s reload || fail "reloading nginx failed: see 'docker service logs ${STACK}_nginx'."
}

stack_status() {
    problems=0
    echo "services (running/wanted) and tasks:"
    for service in $(docker stack services --format '{{.Name}}' "$STACK"); do
        replicas="$(docker service ls --filter "name=$service" --format '{{.Name}} {{.Replicas}}' | awk -v s="$service" '$1 == s {print $2}')"
        running="${replicas%%/*}"
        wanted="${replicas#*/}"
        wanted="${wanted%% *}"
        mark=ok
        [ "$running" = "$wanted" ] || { mark=FAIL; problems=$((problems + 1)); }
        printf '  %-4s %-24s %s\n' "$mark" "$service" "$replicas"
        docker service ps --filter desired-state=running \
            --format '         {{.Name}} on {{.Node}}: {{.CurrentState}} {{.Error}}' "$service"
    done
    [ "$problems" -eq 0 ] || fail "$problems service(s) short of replicas: see 'docker service ps --no-trunc SERVICE' on the manager."
}

stack_scale() {
    service="${1%%=*}"
    count="${1#*=}"
    case "$service" in backend | storage | frontend) ;; *) fail "only backend, storage and frontend are replicated, not '$service'." ;; esac
    case "$count" in "" | *[!0-9]*) fail "'$count' is not a number of replicas." ;; esac
    [ "$count" -ge 1 ] || fail "at least one replica: the site needs every service."
    say "scaling $service to $count"
    docker service scale --detach "${STACK}_$service=$count" >/dev/null || fail "scaling $service failed."
    wait_converged
    say "to keep it after the next deploy, set SWARM_REPLICAS in settings.env (it applies to all three)"
}

# The storage image has the S3 client and the service's settings: a one-off container of it
# archives the bucket to stdout, or replaces the bucket's contents with an archive from stdin.
bucket() {
    export_settings
    docker run --rm -i --env-file settings.env \
        -e "S3_ACCESS_KEY_ID=$(setting S3_ACCESS_KEY_ID .env)" \
        -e "S3_SECRET_ACCESS_KEY=$(setting S3_SECRET_ACCESS_KEY .env)" \
        -v "$(pwd)/.deploy/bucket_archive.py:/tmp/bucket_archive.py:ro" \
        "$SWARM_REGISTRY/$SLUG/storage:$STORAGE_TAG" python /tmp/bucket_archive.py "$1"
}

# pg_dump is a consistent snapshot; the files are archived after it, so every file the dump
# references is in the archive (files uploaded in between are harmless extras).
stack_backup() {
    check_swarm
    db="$(local_container db)"
    [ -n "$db" ] || fail "PostgreSQL does not run on this node: run stack-backup on the node labelled $SLUG.db (or back up your managed database with its own tools)."
    name="$(date -u +%Y%m%d-%H%M%S)"
    mkdir -p "backups/$name"
    say "dumping the database"
    # shellcheck disable=SC2016 # expanded by the shell inside the db container
    docker exec "$db" sh -c 'pg_dump -U "$POSTGRES_USER" -d "$POSTGRES_DB" -Fc' > "backups/$name/db.dump" \
        || fail "pg_dump failed: is the database healthy? (swarm_status)"
    if [ "$(setting STORAGE_BACKEND)" = s3 ]; then
        say "archiving the bucket $(setting S3_BUCKET)"
        bucket dump > "backups/$name/storage.tar.gz" || fail "archiving the bucket failed (output above)."
    else
        storage="$(local_container storage)"
        [ -n "$storage" ] || fail "no storage task on this node (the edge's): is storage running? (swarm_status)"
        docker exec "$storage" tar -czf - -C /data . > "backups/$name/storage.tar.gz" \
            || fail "archiving the storage volume failed."
    fi
    echo "$name"
}

stack_restore() {
    name="$1"
    case "$name" in "" | *[!0-9-]*) fail "'$name' is not a backup name such as 20250101-120000." ;; esac
    [ -f "backups/$name/db.dump" ] && [ -f "backups/$name/storage.tar.gz" ] \
        || fail "backups/$name is incomplete on the server: upload it again."
    check_swarm
    db="$(local_container db)"
    [ -n "$db" ] || fail "PostgreSQL does not run on this node: run the restore on the node labelled $SLUG.db."
    export_settings
    replicas="$(docker service inspect --format '{{.Spec.Mode.Replicated.Replicas}}' "${STACK}_backend")"
    # 0 when an earlier restore stopped halfway: back to the setting's count.
    [ "${replicas:-0}" -gt 0 ] || replicas="${SWARM_REPLICAS:-2}"
    say "stopping the backend (the site answers 502 to API calls until the end)"
    docker service scale --detach "${STACK}_backend=0" >/dev/null || fail "stopping the backend failed."
    say "restoring the database"
    # shellcheck disable=SC2016 # expanded by the shell inside the db container
    docker exec -i "$db" sh -c \
        'pg_restore -U "$POSTGRES_USER" -d "$POSTGRES_DB" --clean --if-exists --no-owner --single-transaction' \
        < "backups/$name/db.dump" || {
        docker service scale --detach "${STACK}_backend=$replicas" >/dev/null
        fail "pg_restore failed (output above); the database and the files are unchanged."
    }
    if [ "$(setting STORAGE_BACKEND)" = s3 ]; then
        say "replacing the bucket's files"
        bucket restore < "backups/$name/storage.tar.gz" || {
            docker service scale --detach "${STACK}_backend=$replicas" >/dev/null
            fail "the database is restored but the bucket is not (output above): run restore again."
        }
    else
        storage="$(local_container storage)"
        [ -n "$storage" ] || fail "the database is restored but no storage task runs on this node: run restore again once storage runs."
        # shellcheck disable=SC2016 # expanded by the shell inside the storage container
        docker exec -i "$storage" sh -c 'rm -rf /data/.restoring && mkdir /data/.restoring && tar -xzf - -C /data/.restoring && cd /data && find . -mindepth 1 -maxdepth 1 ! -name .restoring -exec rm -rf {} + && cd .restoring && for f in * .[!.]* ..?*; do if [ -e "$f" ]; then mv "$f" /data/; fi; done && cd /data && rmdir .restoring' \
            < "backups/$name/storage.tar.gz" \
            || fail "the database is restored but swapping the files failed (output above): run restore again."
    fi
    say "starting the backend again"
    docker service scale --detach "${STACK}_backend=$replicas" >/dev/null || fail "starting the backend failed: run swarm_scale backend $replicas."
    wait_converged
    # Seen in tests: the edge reached the new backend tasks up to ~8 s after they counted as
    # running (cause not found); the first API calls may get 502 meanwhile.
    say "the API may answer 502 for a few more seconds"
}

main() {
    [ "$#" -gt 0 ] || fail "no action given (see the Usage lines at the top of this file)."
    command -v docker >/dev/null 2>&1 || fail "docker is not installed on the server: install Docker Engine (docs/deployment.md, 'Server')."
    for action in "$@"; do
        case "$action" in
            swarm-init) swarm_init ;;
            images) check_swarm; images push ;;
            images-tag) check_swarm; images keep ;;
            stack-deploy) check_swarm; stack_deploy ;;
            stack-certificate) stack_certificate ;;
            stack-status) check_swarm; stack_status ;;
            stack-scale:*=*) check_swarm; stack_scale "${action#stack-scale:}" ;;
            stack-backup) stack_backup ;;
            stack-restore:*) stack_restore "${action#stack-restore:}" ;;
            *) fail "unknown action '$action' (see the Usage lines at the top of this file)." ;;
        esac
    done
}

main "$@"
