#!/usr/bin/env bash
### Usage: bash scripts/demo.sh [DIR]
###
### Renders a deployment with the default answers into DIR (default: ./demo), makes it a git
### repository, and boots it locally with its native runner (no Docker). Installs only what that
### needs (scripts/setup.sh --demo), then prints the URL, how to sign in and how to stop it:
### python3 DIR/scripts/local/stack.py down
set -o errexit -o nounset -o pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --demo
dir=${1:-demo}

if [[ ! -f $dir/.copier-answers.yml ]]; then
  # An absolute source, so that `copier update` in the demo finds the template again.
  .venv/bin/copier copy --quiet --defaults --vcs-ref HEAD "$PWD" "$dir" >/dev/null
  chmod 755 "$dir"
  git -C "$dir" init -q
  git -C "$dir" add -A
  git -C "$dir" -c user.name=demo -c user.email=demo@example.com commit -qm "Generated from closo-template"
fi
.venv/bin/python "$dir/scripts/local/stack.py" up --detach
