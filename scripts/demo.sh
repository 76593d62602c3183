#!/usr/bin/env bash
### Usage: bash scripts/demo.sh [DIR]
###
### Renders a deployment with the default answers into DIR (default: ./demo), makes it a git
### repository, and boots it locally with its native runner (no Docker). Prints the URL.
### Stop it with: python3 DIR/scripts/local/stack.py down
set -o errexit -o nounset -o pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
dir=${1:-demo}

if [[ ! -f $dir/.copier-answers.yml ]]; then
  .venv/bin/copier copy --defaults --vcs-ref HEAD . "$dir"
  chmod 755 "$dir"
  git -C "$dir" init -q
  git -C "$dir" add -A
  git -C "$dir" -c user.name=demo -c user.email=demo@example.com commit -qm "Generated from closo-template"
fi
.venv/bin/python "$dir/scripts/local/stack.py" up --detach
echo "Stop it with: python3 $dir/scripts/local/stack.py down"
