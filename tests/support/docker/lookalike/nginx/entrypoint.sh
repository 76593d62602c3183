#!/bin/sh
# The official image's start, as far as the stack relies on it. When the command is nginx:
# render /etc/nginx/templates/**/*.template into /etc/nginx/conf.d/ with envsubst (only variables
# set in the environment, so nginx's own $variables stay), then run the executable *.sh scripts
# of /docker-entrypoint.d/ in order (one failing stops the start); then run the command.
set -eu
if [ "${1:-}" = nginx ]; then
    templates=/etc/nginx/templates
    if [ -d "$templates" ]; then
        defined=$(awk 'BEGIN { for (v in ENVIRON) if (v ~ /^[A-Za-z_][A-Za-z0-9_]*$/) printf "${%s} ", v }')
        find "$templates" -follow -type f -name '*.template' | while read -r template; do
            relative=${template#"$templates"/}
            target=/etc/nginx/conf.d/${relative%.template}
            mkdir -p "$(dirname "$target")"
            envsubst "$defined" < "$template" > "$target"
        done
    fi
    for script in $(find /docker-entrypoint.d/ -mindepth 1 -maxdepth 1 -type f -name '*.sh' | sort); do
        if [ -x "$script" ]; then
            echo "$0: running $script"
            "$script"
        else
            echo "$0: ignoring $script, not executable"
        fi
    done
fi
exec "$@"
