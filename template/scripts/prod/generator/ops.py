"""What a deploy script does, one operation at a time; each renders to a few lines of sh and of
batch (render_sh.py, render_bat.py). Commands are written once, in a neutral syntax: ${VAR} for
a variable of config.env or of an earlier operation."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Say:
    text: str


@dataclass(frozen=True)
class Stop:
    """Stop with this message (a script kept only to say which one to run now)."""

    text: str


@dataclass(frozen=True)
class NeedEnv:
    """The local .env must exist: it holds the secrets the server needs."""


@dataclass(frozen=True)
class MakeDir:
    """A local folder (relative to the project root) that must exist."""

    path: str


@dataclass(frozen=True)
class NeedTools:
    tools: tuple[str, ...]


@dataclass(frozen=True)
class IfExists:
    """`variable` holds `path` when that file exists in the project, else nothing: an upload of a
    file that only some projects have (stack.yaml, deploy_mode=swarm)."""

    variable: str
    path: str


@dataclass(frozen=True)
class Cmd:
    """A command that reaches the server (ssh/scp) or packs an upload (tar); stops on failure."""

    argv: str  # in the neutral syntax: ${VAR} for variables
    error: str
    capture: str = ""  # variable receiving the command's last line of stdout


@dataclass(frozen=True)
class Confirm:
    """The operator types a value (the domain) before anything changes; `preset` names an
    environment variable that answers instead, for scripts and CI that have no one to type."""

    prompt: str
    expected: str  # variable the answer must equal
    preset: str = ""


@dataclass(frozen=True)
class IfDir:
    """The operations `ops` run only when the local folder `path` exists (in the neutral
    syntax); none of them may be another IfDir."""

    path: str
    ops: tuple[object, ...]


@dataclass(frozen=True)
class NeedArg:
    variable: str
    usage: str
    pattern: str  # characters the argument is made of (validated on both systems)


@dataclass(frozen=True)
class Script:
    name: str
    usage: str
    about: str
    ops: tuple[object, ...]
    swarm_only: bool = False  # exists only in a deploy_mode=swarm project


MISSING_ENV = (
    ".env not found in the project folder: it holds the secrets the server needs. "
    "Restore it from your copy, or rebuild it from .env.example with new secrets."
)


def missing_tool(tool: str) -> str:
    return (
        f"'{tool}' not found: install the OpenSSH client and tar "
        "(built into Windows 10+, packages openssh-client and tar elsewhere)."
    )
