#!/bin/sh
### Usage: 50-access-log-rotation.sh
###
### Keeps the edge's access log (EDGE_ACCESS_LOG, a file of the edge_logs volume) bounded: every
### ACCESS_LOG_CHECK_SECONDS (default 300) in the background, once it is larger than
### EDGE_ACCESS_LOG_MAX_MB (default 50), it becomes access.log.1 (the previous .1 goes) and
### `nginx -s reopen` starts a new file. At most twice that size on disk, no cron, no logrotate.
### Runs from /docker-entrypoint.d/ in the nginx image, before nginx starts.
set -eu

log() {
    printf '%s access-log-rotation: %s\n' "$(date -u '+%Y-%m-%dT%H:%M:%SZ')" "$*" >&2
}

file=${EDGE_ACCESS_LOG:-}
if [ -z "$file" ]; then
    exit 0
fi
max_bytes=$(( ${EDGE_ACCESS_LOG_MAX_MB:-50} * 1000000 ))
interval=${ACCESS_LOG_CHECK_SECONDS:-300}
mkdir -p "$(dirname "$file")"

rotate() {
    while sleep "$interval"; do
        size=$(wc -c < "$file" 2>/dev/null || echo 0)
        if [ "$size" -gt "$max_bytes" ]; then
            mv -f "$file" "$file.1"
            if nginx -s reopen; then
                log "rotated $file ($size bytes) to $file.1"
            else
                log "nginx -s reopen failed: lines go to $file.1 until the next start"
            fi
        fi
    done
}

rotate &
