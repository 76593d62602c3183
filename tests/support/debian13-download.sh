#!/usr/bin/env bash
### Usage: bash tests/support/debian13-download.sh DEST PACKAGE...
###
### Downloads Debian 13 (trixie) packages into DEST as .deb files, with an apt state of its own:
### the machine's sources, package lists and installed packages are left as they are. For the few
### newer tools the test layers take from Debian 13 on Debian 12 (compose v2 and buildx, Wine 10's
### cmd). The mirror is the one this machine's apt already uses.
set -o errexit -o nounset -o pipefail

dest=${1:?usage: debian13-download.sh DEST PACKAGE...}
shift
die() { printf '[setup] error: %s\n' "$*" >&2; exit 1; }
for command in apt-get dpkg-deb; do
  command -v "$command" >/dev/null || die "$command not found: this needs Debian's apt tools."
done

# The Debian mirror of the apt sources (deb822 or one-line), the one that serves bookworm.
mirror=$(
  cat /etc/apt/sources.list.d/*.sources 2>/dev/null \
    | awk '/^URIs:/ {uri=$2} /^Suites:/ && / (bookworm|trixie|stable)( |$)/ {print uri; exit}'
)
[[ -n $mirror ]] || mirror=$(
  cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
    | awk '$1 == "deb" && $3 ~ /^(bookworm|trixie|stable)$/ {print $2; exit}'
)
[[ -n $mirror ]] || die "no Debian mirror found in the apt sources: add one (Suites: bookworm), then run this again."

state=$(mktemp -d)
trap 'rm -rf "$state"' EXIT
mkdir -p "$state/sources" "$state/lists/partial" "$state/cache/archives/partial" "$dest"
cat > "$state/sources/trixie.sources" <<SOURCES
Types: deb
URIs: $mirror
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
apt_private=(
  -o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$state/sources"
  -o "Dir::State::Lists=$state/lists" -o "Dir::Cache=$state/cache" -o Dir::State::status=/dev/null
  -o Debug::NoLocking=1 -o APT::Architecture=amd64 -o APT::Architectures=amd64
)
# As root, apt hands downloads to the _apt user, who cannot write into a private mktemp folder.
[[ $(id -u) -ne 0 ]] || apt_private+=(-o APT::Sandbox::User=root)
apt-get "${apt_private[@]}" update -qq >/dev/null
(cd "$dest" && apt-get "${apt_private[@]}" download -qq "$@" >/dev/null)
