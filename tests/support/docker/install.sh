#!/usr/bin/env bash
### Usage: bash tests/support/docker/install.sh
###
### The Docker parts of the containers and deploy layers, on Debian/Ubuntu, as root:
###   - Debian's docker.io (Engine 20.10 and containerd) and mmdebstrap (look-alike base images);
###   - Debian's docker-registry (the swarm layer's registry, never started as a service);
###   - the compose v2 and buildx CLI plugins in /usr/local/lib/docker/cli-plugins, where every
###     user's docker CLI finds them (the deploy test's server user included). Debian 12 ships only
###     the old docker-compose 1.29, which rejects modern compose files; Debian 13's plugins need
###     nothing newer than Debian 12's libc, so they are taken from trixie
###     (tests/support/debian13-download.sh; the system's apt state is left as it is).
### The engine is not started here: the tests start their own dockerd and stop it by PID.
### Safe to run again: it installs only what is missing.
set -o errexit -o nounset -o pipefail

say() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] error: %s\n' "$*" >&2; exit 1; }

plugins=/usr/local/lib/docker/cli-plugins
missing=()
command -v dockerd >/dev/null || [[ -x /usr/sbin/dockerd ]] || missing+=(docker.io)
command -v mmdebstrap >/dev/null || missing+=(mmdebstrap)
# The swarm layer's image registry (nodes pull what swarm_deploy pushes); started by the tests.
[[ -x /usr/bin/docker-registry ]] || missing+=(docker-registry)
# Compose v2 and buildx from anywhere the CLI looks (Docker's own packages ship them too).
have_plugins() {
  docker compose version 2>/dev/null | grep -q 'version v\{0,1\}2\.' && docker buildx version >/dev/null 2>&1
}
[[ ${#missing[@]} -eq 0 ]] && have_plugins && exit 0

[[ $(id -u) -eq 0 ]] || die "the containers and deploy layers run a Docker engine of their own and \
need root to install and start it. Run the tests as root, or install first:
    sudo apt-get install -y --no-install-recommends docker.io mmdebstrap
    sudo bash tests/support/docker/install.sh"
command -v apt-get >/dev/null || die "apt-get not found: these layers need a Debian/Ubuntu machine."

if ((${#missing[@]})); then
  say "installing ${missing[*]} (the engine is not started as a system service)"
  export DEBIAN_FRONTEND=noninteractive
  # docker.io's post-install would start a system dockerd: the tests run their own.
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }
  rm -f /usr/sbin/policy-rc.d; trap - EXIT
fi

if ! have_plugins; then
  say "installing the docker compose v2 and buildx plugins (Debian 13 packages)"
  state=$(mktemp -d)
  trap 'rm -rf "$state"' EXIT
  bash "$(dirname "$0")/../debian13-download.sh" "$state" docker-compose docker-buildx
  mkdir -p "$plugins"
  for deb in "$state"/*.deb; do dpkg-deb -x "$deb" "$state/root"; done
  for plugin in docker-compose docker-buildx; do
    install -m 0755 "$state/root/usr/libexec/docker/cli-plugins/$plugin" "$plugins/$plugin"
  done
  docker compose version >/dev/null || die "the compose plugin does not run here: see $plugins."
fi
