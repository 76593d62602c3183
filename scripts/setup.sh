#!/usr/bin/env bash
### Usage: bash scripts/setup.sh [--demo | --system-only]
###
### Installs what the template's tests need on a Debian/Ubuntu machine: system packages (nginx,
### PostgreSQL ≥ 15, Chromium, Pebble, OpenSSH server, Wine, Docker, …) when missing, then the Python
### tools in .venv (and .venv-tools/<name> for tools/<name>.txt).
### --demo: only what scripts/demo.sh needs (nginx, PostgreSQL, openssl, git, venv, and copier in
### .venv); the tests add the rest. --system-only: the system packages, no Python tools.
### Safe to run again: it installs only what is missing or changed.
set -o errexit -o nounset -o pipefail

cd "$(dirname "$0")/.."
mode=${1:-}

say() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] error: %s\n' "$*" >&2; exit 1; }

# --- system packages: command or file that proves it is there -> Debian package
missing=()
need() { # need <package> <test...>
  local package=$1; shift
  "$@" >/dev/null 2>&1 || missing+=("$package")
}
# The demo: the native runner's binaries, and git for the rendered deployment.
need nginx-light     sh -c 'command -v nginx || test -x /usr/sbin/nginx'
need postgresql      sh -c 'ls /usr/lib/postgresql/*/bin/initdb'
need openssl         command -v openssl
need git             command -v git
need python3-venv    /usr/bin/python3 -c 'import ensurepip, venv'
if [[ $mode != --demo ]]; then
# The tests add browsers, ACME, SSH, load, Windows and Docker tools.
need chromium        sh -c 'command -v chromium || test -x /usr/bin/chromium'
need pebble          sh -c 'command -v pebble || test -x /usr/bin/pebble'
need openssh-server  test -x /usr/sbin/sshd
need openssh-client  sh -c 'command -v ssh && command -v scp'
need wrk             command -v wrk
need curl            command -v curl
# scripts/test.sh gives the native layers a network namespace of their own (`unshare`, `ip`);
# the swarm layer links its nodes' namespaces.
need iproute2        sh -c 'command -v ip || test -x /usr/sbin/ip || test -x /sbin/ip'
need util-linux      command -v unshare
# The health checks run as the images run them: BusyBox's wget and nc, as in the nginx image.
need busybox         command -v busybox
# The windows test layer: Wine runs the .bat scripts, mingw-w64 builds the ssh/scp/tar stand-ins.
need wine            command -v wine
need wine64          test -x /usr/lib/wine/wine64
need gcc-mingw-w64-x86-64-win32 command -v x86_64-w64-mingw32-gcc
fi

if ((${#missing[@]})); then
  install_cmd="apt-get install -y --no-install-recommends ${missing[*]}"
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    say "installing system packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # Debian's nginx-light and pebble post-install scripts may try to start system services on
    # ports 80/14000: this machine never needs them running.
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    rm -f /usr/sbin/policy-rc.d; trap - EXIT
  else
    die "missing system packages. Install them, then run this again:
    sudo apt-get update && sudo $install_cmd"
  fi
fi
if [[ $mode != --demo ]]; then
  bash tests/support/wine/install.sh >/dev/null  # Wine 10's cmd.exe, downloaded once into the cache
  # The containers and deploy layers: a Docker engine the tests start themselves, compose v2.
  bash tests/support/docker/install.sh
fi
[[ $mode == --system-only ]] && exit 0

# --- Python tools
python=${PYTHON:-python3}
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || die "Python ≥ 3.11 is needed (found $("$python" --version 2>&1)); set PYTHON to one."

installed() { # installed <venv dir> <requirements file>: true when that file was installed last
  [[ -f $1/.installed && $(cat "$1/.installed") == "$(sha256sum "$2" | cut -c1-16)" ]]
}
install_venv() { # install_venv <venv dir> <requirements file> <what>
  local venv=$1 requirements=$2 what=$3 stamp
  stamp=$(sha256sum "$requirements" | cut -c1-16)
  installed "$venv" "$requirements" && return 0
  say "installing $what into $venv"
  [[ -x $venv/bin/python ]] || "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"
  echo "$stamp" > "$venv/.installed"
}

requirements=$(mktemp) demo_requirements=$(mktemp)
trap 'rm -f "$requirements" "$demo_requirements"' EXIT
# The demo needs copier only (the native runner installs the services' pins itself): its pin is
# the test group's, so there is one list.
"$python" - "$requirements" "$demo_requirements" <<'PY'
import sys, tomllib
group = tomllib.load(open("pyproject.toml", "rb"))["dependency-groups"]["test"]
open(sys.argv[1], "w").write("\n".join(group) + "\n")
open(sys.argv[2], "w").write("".join(f"{pin}\n" for pin in group if pin.startswith("copier==")))
PY
if [[ $mode == --demo ]]; then
  # A .venv with every test tool has copier too.
  installed .venv "$requirements" || install_venv .venv "$demo_requirements" "copier"
  say "ready for the demo"
  exit 0
fi
install_venv .venv "$requirements" "the test tools (pyproject.toml, group test)"
for tool in tools/*.txt; do
  [[ -e $tool ]] || continue
  install_venv ".venv-tools/$(basename "$tool" .txt)" "$tool" "$tool"
done
say "ready"
