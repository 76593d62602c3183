#!/bin/sh
### Usage: 30-shared-edge.sh (run by the nginx image's entrypoint before nginx starts)
###
### Behind the server's shared edge (edge=shared: compose sets SHARED_EDGE_SUBNET, the range of the
### closo-edge network), every connection on 443 comes from the edge with a PROXY protocol header
### that names the client: nginx takes the client's address from it (rate limits, logs, the
### backend's X-Forwarded-For), trusting that header from the edge's network only. With its own
### edge (edge=own, no SHARED_EDGE_SUBNET) clients connect directly: nothing to do.
set -eu
[ -n "${SHARED_EDGE_SUBNET:-}" ] || exit 0
case "$SHARED_EDGE_SUBNET" in
    *[!0-9./]*) echo "30-shared-edge.sh: SHARED_EDGE_SUBNET='$SHARED_EDGE_SUBNET' is not an IPv4 range" >&2; exit 1 ;;
esac
printf '# Written at start by 30-shared-edge.sh: the shared edge names the client.\nset_real_ip_from %s;\nreal_ip_header proxy_protocol;\n' \
    "$SHARED_EDGE_SUBNET" > /etc/nginx/conf.d/shared-edge.conf
