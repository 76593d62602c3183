#!/usr/bin/env bash
### Usage: bash scripts/test.sh [pytest arguments]
###
### The whole test suite: installs what is missing (scripts/setup.sh), then runs every layer
### (render, validators, lint, generated suites, stack, browser, TLS, update, deploy, reliability,
### observability).
### Extra arguments go to pytest, e.g. `bash scripts/test.sh -m "not browser" -x`.
set -o errexit -o nounset -o pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m pytest "$@"
