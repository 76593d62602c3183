"""The state dir: data, logs, rendered configs, and run/stack.json (ports, pids, certificate)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from .errors import StackError

IS_ROOT = os.geteuid() == 0
# The state dir holds the database, the users' files, keys and logs: other local users may not
# list or read it. As root, PostgreSQL (user postgres) and the nginx workers (nobody) need to pass
# through it, so it is 0711 then: they can reach what they know the path of, nobody can list it.
PRIVATE_DIR_MODE = 0o711 if IS_ROOT else 0o700


class State:
    def __init__(self, root: Path):
        self.root = root.resolve()
        self.file = self.root / "run" / "stack.json"
        self.data = json.loads(self.file.read_text()) if self.file.is_file() else {}

    def path(self, *parts: str) -> Path:
        return self.root.joinpath(*parts)

    def log(self, name: str) -> Path:
        return self.path("logs", f"{name}.log")

    def save(self) -> None:
        self.file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.file.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, indent=2))
        tmp.replace(self.file)

    @property
    def ports(self) -> dict[str, int]:
        return self.data.setdefault("ports", {})

    @property
    def pids(self) -> dict[str, int]:
        return self.data.setdefault("pids", {})

    @property
    def server_name(self) -> str:
        return self.data.get("server_name", "localhost")


def check_reachable_by(path: Path, user: str) -> None:
    """As root, postgres and nginx workers run as other users: each parent must be traversable."""
    for parent in [path, *path.parents]:
        if parent.exists() and not parent.stat().st_mode & 0o001:
            raise StackError(
                f"{parent} is not traversable by the '{user}' user that runs part of the stack "
                f"(mode {oct(parent.stat().st_mode & 0o777)}). Put the project and the state dir "
                "under a folder others can traverse (e.g. /srv or /var/tmp), or run as a normal "
                "user."
            )
