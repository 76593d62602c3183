#!/usr/bin/env bash
### Usage: bash tests/support/wine/install.sh
###
### The part of the `windows` test layer that needs the network: Debian 13's Wine 10 cmd.exe,
### where.exe and findstr.exe, downloaded once into the cache (outside the clone) with a private
### apt state, so the machine's own apt configuration is not touched. Debian 12's Wine 8 (the
### wine, wine64 packages, installed by scripts/setup.sh) runs them: its own cmd is too broken for
### real scripts (it runs the right side of `a || b` whatever `a` returned; where and findstr are
### stubs). Prints the folder holding the three .exe. Safe to run again: it downloads only once.
set -o errexit -o nounset -o pipefail

here=$(cd "$(dirname "$0")" && pwd)
key=$(sha256sum "$here/install.sh" | cut -c1-16)
dest=${XDG_CACHE_HOME:-$HOME/.cache}/closo-template/wine10-$key
tools=(cmd.exe where.exe findstr.exe)

say() { printf '[wine] %s\n' "$*" >&2; }
die() { printf '[wine] error: %s\n' "$*" >&2; exit 1; }

if [[ -f $dest/.complete ]]; then
  echo "$dest"
  exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
say "downloading Wine 10 (libwine from Debian 13) into $dest"
bash "$here/../debian13-download.sh" "$work" libwine:amd64
dpkg-deb -x "$work"/libwine_*.deb "$work/root"

mkdir -p "$dest.tmp"
for tool in "${tools[@]}"; do
  exe=$work/root/usr/lib/x86_64-linux-gnu/wine/x86_64-windows/$tool
  [[ -f $exe ]] || die "$tool not in Debian 13's libwine: the package layout changed; update this script."
  cp "$exe" "$dest.tmp/$tool"
  # Wine loads its own builtin in place of a file marked "Wine builtin DLL" at 0x40: unmark it so
  # the Wine 8 loader runs this one (with WINEDLLOVERRIDES=<tool>=n).
  [[ $(dd if="$exe" bs=1 skip=64 count=16 status=none) == "Wine builtin DLL" ]] \
    || die "$tool has no builtin mark at 0x40: the Wine build changed; update this script."
  printf 'closo-native-exe' | dd of="$dest.tmp/$tool" bs=1 seek=64 conv=notrunc status=none
done
dpkg-deb -f "$work"/libwine_*.deb Version > "$dest.tmp/VERSION"
touch "$dest.tmp/.complete"
rm -rf "$dest"
mv "$dest.tmp" "$dest"
echo "$dest"
