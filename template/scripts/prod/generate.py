"""Write the deploy scripts of this folder, as .sh (POSIX sh, LF) and .bat (Windows, CRLF) twins.

Usage: python3 scripts/prod/generate.py [--check]

Both twins come from the one list of operations in generator/steps.py, so they run the same
commands in the same order; `--check` exits 1 if a script on disk differs from what that list
produces (the template's tests run it). Edit generator/, never the generated scripts, then run
this again.

What runs on the server is remote.sh with its parts in remote/ (uploaded by every script): the
twins only check the operator's machine, pack and upload files with tar/scp, and call remote.sh
over ssh with the operation's actions. The scripts are the same in both deploy modes (the mode is
DEPLOY_MODE in config.env); the swarm-only ones (swarm_init, swarm_scale, and the old swarm_*
names that say which operation to run now) exist only in a project that has stack.yaml: in the
template their names carry Copier's condition, as the stack file's does, so a deploy_mode=server
project has none of them and `copier update --data deploy_mode=swarm` adds them.
"""

from __future__ import annotations

import sys
from pathlib import Path

from generator.config_files import config_bat, config_sh
from generator.render_bat import render_bat
from generator.render_sh import render_sh
from generator.steps import all_scripts

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
# Copier's tags, spelled in two pieces so that this file holds no unrendered Jinja.
TAG_OPEN, TAG_CLOSE = "{" + "%", "%" + "}"
SWARM_CONDITION = f"{TAG_OPEN} if deploy_mode == 'swarm' {TAG_CLOSE}"
SWARM_END = f"{TAG_OPEN} endif {TAG_CLOSE}"
TEMPLATE_STACK_FILE = f"{SWARM_CONDITION}stack.yaml{SWARM_END}.jinja"


def swarm_file_name(name: str) -> str | None:
    """The file name of a swarm script here: plain beside stack.yaml (a deploy_mode=swarm
    project), with Copier's condition in the template, None in a deploy_mode=server project."""
    if (ROOT / "stack.yaml").exists():
        return name
    if (ROOT / TEMPLATE_STACK_FILE).exists():
        return SWARM_CONDITION + name + SWARM_END
    return None


def expected_files() -> dict[Path, bytes]:
    files: dict[Path, bytes] = {
        HERE / "config.sh": config_sh().encode(),
        HERE / "config.bat": config_bat().encode(),
    }
    for script in all_scripts():
        for suffix, render in ((".sh", render_sh), (".bat", render_bat)):
            name = script.name + suffix
            if script.swarm_only and (name := swarm_file_name(name)) is None:
                continue
            files[HERE / name] = render(script).encode()
    return files


def main(argv: list[str]) -> int:
    check = "--check" in argv
    expected = expected_files()
    stale = []
    for path, content in expected.items():
        if path.exists() and path.read_bytes() == content:
            continue
        stale.append(path.name)
        if not check:
            path.write_bytes(content)
            if path.name.removesuffix(SWARM_END).endswith(".sh"):
                path.chmod(0o755)
    if check and stale:
        print("out of date (run python3 scripts/prod/generate.py): " + ", ".join(stale))
        return 1
    print(("checked " if check else "wrote ") + f"{len(expected)} scripts")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
