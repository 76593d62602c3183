# shellcheck shell=sh
# Several deployments on one server (DEPLOY_MODE=server): what each must not take from the others.
# Sourced by remote/server.sh. Before the first action that builds or starts anything, a deploy
# checks that the server can hold this deployment (check_server): its network gets a subnet no
# other network uses, and the ports its edge publishes are free or already its own. A conflict
# stops the run there, with nothing started, naming what holds the subnet or the port.

# The compose default of NETWORK_SUBNET (compose.yaml); the backend trusts proxy headers from it.
DEFAULT_SUBNET=172.30.57.0/24

# a.b.c.d -> a number, for comparing address ranges with shell arithmetic.
ip_number() {
    old_ifs="$IFS"
    IFS=.
    # shellcheck disable=SC2086 # split on the dots
    set -- $1
    IFS="$old_ifs"
    echo $(( ($1 << 24) + ($2 << 16) + ($3 << 8) + $4 ))
}

# Whether two CIDR ranges share an address: same bits under the shorter prefix.
overlaps() {
    bits_a="${1#*/}"
    bits_b="${2#*/}"
    bits=$(( bits_a < bits_b ? bits_a : bits_b ))
    mask=$(( bits == 0 ? 0 : (0xFFFFFFFF << (32 - bits)) & 0xFFFFFFFF ))
    [ $(( $(ip_number "${1%/*}") & mask )) -eq $(( $(ip_number "${2%/*}") & mask )) ]
}

# The IPv4 ranges in a network's IPAM configuration (docker's JSON of it, on stdin).
ipv4_subnets() {
    grep -o '"Subnet":"[^"]*"' | cut -d'"' -f4 | grep -v ':' || true
}

# The first IPv4 range of a network, empty when there is no such network.
network_subnet() {
    docker network inspect --format '{{json .IPAM.Config}}' "$1" 2>/dev/null | ipv4_subnets | head -n 1
}

# "NAME SUBNET" for every subnet of every network on the server but this deployment's own.
other_subnets() {
    docker network ls --quiet | xargs docker network inspect \
        --format '{{.Name}} {{json .IPAM.Config}}' 2>/dev/null \
        | while read -r name config; do
            [ "$name" != "$1" ] || continue
            for subnet in $(echo "$config" | ipv4_subnets); do
                echo "$name $subnet"
            done
        done
}

# The network that holds an address of SUBNET, if any (its name on stdout).
subnet_holder() {
    other_subnets "$2" | while read -r name subnet; do
        if overlaps "$1" "$subnet"; then
            echo "$name"
            return
        fi
    done
}

# The subnet this deployment's network gets. Once the network exists it keeps the one it was made
# with (compose would refuse another). Before that: NETWORK_SUBNET of .env when the operator set
# one (refused if another network holds it), else the compose default when free, else the first
# free /24 of 172.30.0.0/16 counted from a number derived from the project's name, so two sites
# never ask Docker for the same range. compose reads the value from the environment; a chosen one
# is also written to .env, so a `docker compose` typed on the server agrees.
choose_subnet() {
    network="${PROJECT_SLUG}_network"
    current="$(network_subnet "$network")"
    if [ -n "$current" ]; then
        NETWORK_SUBNET="$current"
        export NETWORK_SUBNET
        return 0
    fi
    wanted="$(setting NETWORK_SUBNET .env)"
    if [ -n "$wanted" ]; then
        holder="$(subnet_holder "$wanted" "$network")"
        [ -z "$holder" ] \
            || fail "NETWORK_SUBNET=$wanted in .env overlaps the Docker network '$holder' on this server: nothing was started. Choose a free range (docker network inspect $holder shows its range), e.g. NETWORK_SUBNET=10.77.0.0/24, in your .env and run the step again."
        return 0
    fi
    if [ -z "$(subnet_holder "$DEFAULT_SUBNET" "$network")" ]; then
        return 0
    fi
    start=$(( $(printf '%s' "$PROJECT_SLUG" | cksum | cut -d' ' -f1) % 192 + 60 ))
    tries=0
    while [ "$tries" -lt 192 ]; do
        candidate="172.30.$(( (start + tries - 60) % 192 + 60 )).0/24"
        if [ -z "$(subnet_holder "$candidate" "$network")" ]; then
            NETWORK_SUBNET="$candidate"
            export NETWORK_SUBNET
            printf '# Chosen by the deploy: the default range is taken by another network here.\nNETWORK_SUBNET=%s\n' \
                "$candidate" >> .env
            say "network subnet $candidate (the default $DEFAULT_SUBNET is another deployment's)"
            return 0
        fi
        tries=$((tries + 1))
    done
    fail "no free /24 in 172.30.60.0-172.30.251.0 for this deployment's network: set NETWORK_SUBNET in your .env to a free range and run the step again."
}

# Who publishes PORT on the server apart from this deployment: "container (compose project P)",
# or a program outside Docker found by ss, or nothing.
port_holder() {
    docker ps --filter "publish=$1" --format '{{.Names}} {{.Label "com.docker.compose.project"}}' \
        | while read -r name project; do
            [ "$project" != "$PROJECT_SLUG" ] || continue
            if [ -n "$project" ]; then
                echo "the container $name (compose project $project)"
            else
                echo "the container $name"
            fi
            return
        done
}

port_held_outside_docker() {
    command -v ss >/dev/null 2>&1 || return 1
    [ -z "$(docker ps --filter "publish=$1" --quiet)" ] || return 1
    ss -Hltn "sport = :$1" 2>/dev/null | grep -q .
}

# The ports an edge publishes: free, this deployment's own already, or (edge=shared) the shared
# edge's. With its own edge (edge=own) a shared edge is a holder like any other, unless this site
# is the last one it serves (leave_shared_edge).
check_ports() {
    shared_edge || leave_shared_edge
    for port in 80 443; do
        holder="$(port_holder "$port")"
        if [ -z "$holder" ] && port_held_outside_docker "$port"; then
            holder="a program outside Docker ('sudo ss -ltnp sport = :$port' shows which)"
        fi
        if shared_edge; then
            case "$holder" in "" | "the container $EDGE_NAME") continue ;; esac
            fail "port $port of this server is held by $holder, and the shared edge that this site answers (edge=shared) needs it: nothing was started. Move that deployment to the shared edge too (copier update --data edge=shared in its project, then its deploy_ssl), or stop it, then run the step again."
        fi
        [ -z "$holder" ] \
            || fail "port $port of this server is held by $holder, and this deployment's own edge (edge=own) needs it: nothing was started. Stop that deployment first, or give every site of this server the shared edge (answer edge=shared: copier update --data edge=shared, in each project; docs/deployment.md, 'Several sites on one server'), then run the step again."
    done
}

# Back to its own edge (edge=own, after edge=shared): when the shared edge serves this site
# alone, it is taken off and the edge container removed, so its ports are free for this site's
# nginx (deploy_ssl recreates it with them; the site answers again then). The edge's folder stays,
# empty of sites. While other sites use the edge, check_ports refuses, naming it.
leave_shared_edge() {
    docker container inspect "$EDGE_NAME" >/dev/null 2>&1 || return 0
    dir="$(edge_dir)"
    ours=""
    for file in "$dir"/sites/*.conf; do
        [ -f "$file" ] || continue
        grep -q " ${PROJECT_SLUG}_nginx;\$" "$file" || return 0  # another site's: it stays
        ours="$ours $file"
    done
    [ -n "$ours" ] || return 0  # not one of its sites: the edge is someone else's
    # shellcheck disable=SC2086 # file names without spaces (domains)
    rm -f $ours
    docker rm --force "$EDGE_NAME" >/dev/null \
        || fail "removing the shared edge $EDGE_NAME failed (output above): run the step again."
    say "$(setting DOMAIN) was the shared edge's last site: the edge is removed and this site's own nginx takes ports 80 and 443 (deploy_ssl; until then the site does not answer)"
}

# A value the deploy chose on the server (a subnet), kept in the server's .env for a `docker
# compose` typed there; the next upload replaces .env and the next deploy writes it again.
remember_in_env() {
    [ "$(setting "$1" .env)" = "$2" ] || printf '%s=%s\n' "$1" "$2" >> .env
}

checked_server=""
check_server() {
    [ -z "$checked_server" ] || return 0
    checked_server=yes
    check_env
    # Ports first: a deployment refused for them writes nothing (choose_subnet may add to .env).
    check_ports
    if shared_edge; then
        edge_network
    fi
    choose_subnet
}

# --- The shared edge (edge=shared; docs/CONTRACTS.md, "The shared edge") -------------------------
# One nginx container per server, closo-edge, on a network of the same name that each shared
# site's nginx joins (never its other services). It runs the image of the sites' own edges with
# remote/shared-edge.conf, from a folder on the server (SHARED_EDGE_DIR) that also holds one file
# per site, sites/<domain>.conf. No Docker socket: the deploys write the files and reload it.
EDGE_NAME=closo-edge
EDGE_CONF=/etc/closo-edge/nginx.conf
# The contract's number: the first line of shared-edge.conf and of every site file.
EDGE_CONTRACT=1

shared_edge() {
    [ "$(setting EDGE)" = shared ]
}

# The edge's network, made by the first shared site; its range is what every site trusts to name
# the client (SHARED_EDGE_SUBNET, the site's nginx: 30-shared-edge.sh).
edge_network() {
    if ! docker network inspect "$EDGE_NAME" >/dev/null 2>&1; then
        docker network create --driver bridge "$EDGE_NAME" >/dev/null \
            || fail "creating the shared edge's network $EDGE_NAME failed (output above)."
        say "created the shared edge's network $EDGE_NAME"
    fi
    SHARED_EDGE_SUBNET="$(network_subnet "$EDGE_NAME")"
    [ -n "$SHARED_EDGE_SUBNET" ] || fail "the network $EDGE_NAME has no IPv4 range: remove it (docker network rm $EDGE_NAME) and run the step again."
    export SHARED_EDGE_SUBNET
    remember_in_env SHARED_EDGE_SUBNET "$SHARED_EDGE_SUBNET"
}

# The edge's folder: the one the running edge was started with, else SHARED_EDGE_DIR (relative to
# this deployment's folder), made here.
edge_dir() {
    # Its one mount is the folder (start_edge).
    mounted="$(docker container inspect --format '{{json .Mounts}}' "$EDGE_NAME" 2>/dev/null \
        | grep -o '"Source":"[^"]*"' | head -n 1 | cut -d'"' -f4)" || mounted=""
    if [ -n "$mounted" ]; then
        echo "$mounted"
        return 0
    fi
    wanted="$(setting SHARED_EDGE_DIR)"
    case "$wanted" in "") wanted=../closo-edge ;; esac
    (umask 022 && mkdir -p "$wanted/sites") \
        || fail "cannot make the shared edge's folder $wanted (SHARED_EDGE_DIR): make it writable by $(id -un)."
    (cd "$wanted" && pwd)
}

contract_of() {
    sed -n '1s/^# closo-edge contract \([0-9][0-9]*\).*/\1/p' "$1" 2>/dev/null
}

edge_exec() {
    docker exec "$EDGE_NAME" nginx -c "$EDGE_CONF" "$@"
}

# The nginx image the sites' edges build from: the shared edge runs it as it is.
edge_image() {
    sed -n 's/^FROM[[:space:]]\{1,\}\([^[:space:]]*\).*/\1/p' "$PROJECT_SLUG/nginx/Dockerfile" | head -n 1
}

# Installs the edge when the server has none; replaces its nginx.conf when this template's is
# newer or different at the same contract (an older template never downgrades it), checked
# first, then a graceful reload: open connections finish on the old workers.
edge_install() {
    dir="$(edge_dir)"
    ours="$PARTS/shared-edge.conf"
    if [ "$(contract_of "$dir/nginx.conf")" = "" ] || [ "$(contract_of "$ours")" -gt "$(contract_of "$dir/nginx.conf")" ] \
        || { [ "$(contract_of "$ours")" -eq "$(contract_of "$dir/nginx.conf")" ] && ! cmp -s "$ours" "$dir/nginx.conf"; }; then
        (umask 022 && cp "$ours" "$dir/nginx.conf.next")
        replace_edge_conf "$dir"
    elif ! cmp -s "$ours" "$dir/nginx.conf"; then
        say "the shared edge keeps its newer configuration (contract $(contract_of "$dir/nginx.conf"))"
    fi
    state="$(docker container inspect --format '{{.State.Status}}' "$EDGE_NAME" 2>/dev/null)" || state=""
    case "$state" in
        running) return 0 ;;
        "") start_edge "$dir" ;;
        *) docker start "$EDGE_NAME" >/dev/null || fail "starting the shared edge $EDGE_NAME failed: see 'docker logs $EDGE_NAME'." ;;
    esac
}

replace_edge_conf() {
    if docker container inspect "$EDGE_NAME" >/dev/null 2>&1; then
        if ! docker exec "$EDGE_NAME" nginx -t -q -c /etc/closo-edge/nginx.conf.next; then
            rm -f "$1/nginx.conf.next"
            fail "the new configuration of the shared edge is refused by its nginx (output above): the edge runs on as it was."
        fi
        mv "$1/nginx.conf.next" "$1/nginx.conf"
        edge_exec -s reload || fail "reloading the shared edge failed: see 'docker logs $EDGE_NAME'."
        say "the shared edge's configuration was updated and reloaded (contract $(contract_of "$1/nginx.conf"))"
    else
        mv "$1/nginx.conf.next" "$1/nginx.conf"
    fi
}

start_edge() {
    image="$(edge_image)"
    [ -n "$image" ] || fail "no FROM line in $PROJECT_SLUG/nginx/Dockerfile: deploy_ssl uploads it."
    say "starting the shared edge $EDGE_NAME ($image) on ports 80 and 443"
    docker run --detach --name "$EDGE_NAME" --restart unless-stopped --network "$EDGE_NAME" \
        --publish 80:80 --publish 443:443 \
        --cap-drop ALL --cap-add NET_BIND_SERVICE --cap-add SETUID --cap-add SETGID --cap-add CHOWN \
        --security-opt no-new-privileges:true \
        --log-driver json-file --log-opt max-size=10m --log-opt max-file=5 \
        --volume "$1:/etc/closo-edge:ro" --entrypoint nginx \
        "$image" -c "$EDGE_CONF" -g "daemon off;" >/dev/null \
        || fail "starting the shared edge failed (output above)."
    poll 30 edge_running || {
        docker logs --tail 30 "$EDGE_NAME" >&2 || true
        fail "the shared edge did not start (its log above)."
    }
}

edge_running() {
    [ "$(docker container inspect --format '{{.State.Status}}' "$EDGE_NAME" 2>/dev/null)" = running ] && edge_exec -t -q 2>/dev/null
}

site_names() {
    echo "$(setting DOMAIN) $(setting DOMAIN_ALIASES)" | tr ' ' '\n' | sed '/^$/d'
}

# The site's file: its names, each passed to its nginx by container name. A name another
# deployment's file already claims is refused: the edge would pick one of the two at random.
edge_register() {
    dir="$(edge_dir)"
    domain="$(setting DOMAIN)"
    upstream="${PROJECT_SLUG}_nginx"
    for name in $(site_names); do
        claimed="$(grep -l "^$name " "$dir"/sites/*.conf 2>/dev/null | grep -v "/$domain.conf\$" | head -n 1)" || true
        [ -z "$claimed" ] || fail "the name $name is already served through the shared edge by $(basename "$claimed" .conf): nothing was changed. Remove it there first (site_remove in that project)."
    done
    file="$dir/sites/$domain.conf"
    if [ -f "$file" ] && ! grep -q " $upstream;\$" "$file"; then
        fail "$domain is registered on the shared edge for another deployment ($(sed -n 's/^[^#][^ ]* \(.*\);$/\1/p' "$file" | head -n 1)): nothing was changed. Remove that site first (its site_remove)."
    fi
    {
        echo "# closo-edge site contract $EDGE_CONTRACT: $domain, deployed in $(pwd)"
        for name in $(site_names); do echo "$name $upstream;"; done
    } > "$dir/sites/.$domain.next"
    chmod 644 "$dir/sites/.$domain.next"
    if cmp -s "$dir/sites/.$domain.next" "$file"; then
        rm -f "$dir/sites/.$domain.next"
        say "$domain is on the shared edge"
        return 0
    fi
    mv "$dir/sites/.$domain.next" "$file"
    if ! edge_exec -t -q; then
        rm -f "$file"
        fail "the shared edge refuses $file (output above): it was taken off again."
    fi
    edge_exec -s reload || fail "reloading the shared edge failed: see 'docker logs $EDGE_NAME'."
    say "$domain registered on the shared edge (reloaded)"
}

edge_unregister() {
    docker container inspect "$EDGE_NAME" >/dev/null 2>&1 || return 0
    dir="$(edge_dir)"
    file="$dir/sites/$(setting DOMAIN).conf"
    [ -f "$file" ] || return 0
    grep -q " ${PROJECT_SLUG}_nginx;\$" "$file" \
        || fail "$(setting DOMAIN) is on the shared edge for another deployment: not removed."
    rm -f "$file"
    edge_exec -s reload || fail "reloading the shared edge failed: see 'docker logs $EDGE_NAME'."
    say "$(setting DOMAIN) taken off the shared edge (reloaded; the other sites keep serving)"
}

# site_remove: off the edge first (visitors get no page rather than errors), then the containers
# and the network; the data volumes only when asked.
site_remove() {
    case "$1" in
        keep) set -- ;;
        delete) set -- --volumes ;;
        *) fail "site_remove takes keep or delete (the data volumes), not '$1'." ;;
    esac
    check_env
    edge_unregister
    say "stopping and removing this site's containers$([ "$#" -eq 0 ] && echo ', keeping its data volumes')"
    compose down --timeout 30 "$@" || fail "removing the containers failed (output above)."
}

# status: the shared edge and every site on it, whatever project it belongs to.
edge_status() {
    shared_edge || return 0
    state="$(docker container inspect --format '{{.State.Status}}' "$EDGE_NAME" 2>/dev/null)" || state=""
    dir="$(edge_dir)"
    echo "shared edge: $EDGE_NAME ${state:-not created}, contract $(contract_of "$dir/nginx.conf"), folder $dir"
    [ "$state" = running ] || return 1
    bad=0
    for file in "$dir"/sites/*.conf; do
        [ -f "$file" ] || continue
        upstream="$(sed -n 's/^[^#][^ ]* \(.*\);$/\1/p' "$file" | head -n 1)"
        site_state="$(docker container inspect --format '{{.State.Status}} {{.State.Health.Status}}' "$upstream" 2>/dev/null)" || site_state=""
        case "$site_state" in "running healthy") mark=ok ;; *) mark=FAIL; bad=1 ;; esac
        printf '  %-4s %s -> %s (%s)\n' "$mark" "$(basename "$file" .conf)" "$upstream" "${site_state:-missing}"
    done
    [ "$bad" -eq 0 ]
}
