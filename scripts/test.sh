#!/usr/bin/env bash
### Usage: bash scripts/test.sh [pytest arguments]
###
### The whole test suite: installs what is missing (scripts/setup.sh), then runs every layer
### (render, validators, lint, generated suites, stack, browser, TLS, update, deploy, reliability,
### observability, …).
### Extra arguments go to one pytest run, e.g. `bash scripts/test.sh -m "not browser" -x`.
###
### Without arguments the layers run as two pytest processes at once, because the Docker layers
### spend most of their time waiting on builds, health checks and schedulers:
###   - host: the layers that need Docker or the package registries (HOST_LAYERS below), in this
###     machine's network;
###   - native: every other layer, in a network namespace of its own with only a loopback. Docker
###     adds and removes interfaces in the host's namespace all the time, and Chromium fails its
###     requests with ERR_NETWORK_CHANGED when it sees one; in its own namespace it sees none,
###     and no loopback port of one run can clash with the other's.
### The native run's report is printed after the host run's; the exit status is 1 if either failed.
set -o errexit -o nounset -o pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
pytest=(.venv/bin/python -m pytest)
(($#)) && exec "${pytest[@]}" "$@"

HOST_LAYERS="containers or backups or deploy or swarm or update or network"
native_log=$(mktemp --tmpdir closo-native-tests.XXXXXX.log)
# -p no:cacheprovider: one writer of .pytest_cache (the host run).
unshare --net -- bash -c 'ip link set lo up && exec "$@"' native \
  "${pytest[@]}" -p no:cacheprovider -m "not ($HOST_LAYERS)" >"$native_log" 2>&1 &
native=$!
trap 'kill "$native" 2>/dev/null || true' EXIT

status=0
"${pytest[@]}" -m "$HOST_LAYERS" || status=$?
native_status=0
wait "$native" || native_status=$?
trap - EXIT
echo
echo "=============== the native layers (own network namespace; ran at the same time) ==============="
cat "$native_log"
rm -f "$native_log"
echo "host layers: exit $status; native layers: exit $native_status"
((status == 0 && native_status == 0))
