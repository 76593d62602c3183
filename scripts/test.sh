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
###   - the Docker layers (DOCKER below);
###   - meanwhile, one after the other: every layer that needs neither Docker nor the package
###     registries, in a network namespace of its own with only a loopback, then the layers that
###     need the registries (NETWORK below). Docker adds and removes interfaces all the time, and
###     Chromium fails its requests with ERR_NETWORK_CHANGED when it sees one; in its own namespace
###     it sees none, and no loopback port of one run can clash with the other's.
### The second process's report is printed after the first's; the exit status is 1 if either failed.
set -o errexit -o nounset -o pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
pytest=(.venv/bin/python -m pytest)
(($#)) && exec "${pytest[@]}" "$@"

DOCKER="containers or backups or deploy or swarm"
NETWORK="update or network"
other_log=$(mktemp --tmpdir closo-other-tests.XXXXXX.log)
# A job started with & in a script ignores SIGINT and SIGQUIT, and so would every process it
# starts (the tests of Ctrl-C would fail): env gives them back their default action.
# -p no:cacheprovider: one writer of .pytest_cache (the Docker run).
# The bench layer last: twice, as the first layer while the Docker layers started, its static
# nginx refused curl's connection (not seen alone or later; its error now says why, if it recurs).
layers=()
for folder in tests/*/; do
  case "$folder" in tests/support/ | tests/bench/) ;; *) layers+=("$folder") ;; esac
done
(
  env --default-signal=INT,QUIT unshare --net -- bash -c 'ip link set lo up && exec "$@"' native \
    "${pytest[@]}" -p no:cacheprovider -m "not ($DOCKER or $NETWORK)" "${layers[@]}" tests/bench \
    && native=0 || native=$?
  env --default-signal=INT,QUIT \
    "${pytest[@]}" -p no:cacheprovider -m "($NETWORK) and not ($DOCKER)" && network=0 || network=$?
  echo "native layers: exit $native; layers that need the package registries: exit $network"
  ((native == 0 && network == 0))
) >"$other_log" 2>&1 &
other=$!
trap 'pkill -P "$other" 2>/dev/null; kill "$other" 2>/dev/null || true' EXIT

status=0
"${pytest[@]}" -m "$DOCKER" || status=$?
other_status=0
wait "$other" || other_status=$?
trap - EXIT
echo
echo "====== the other layers (run at the same time: native ones in their own network namespace) ======"
cat "$other_log"
rm -f "$other_log"
echo "Docker layers: exit $status; the others: exit $other_status"
((status == 0 && other_status == 0))
