"""Env files (settings.env, .env) read by docker compose's rules, so the native stack gets the
values the containers get.

The rules (compose's env_file syntax, checked against `docker compose config`):
- blank lines and lines starting with `#` are skipped; `export ` before a name is allowed;
- `NAME=value`: surrounding spaces dropped; a ` #` (space then hash) starts a comment, a `#` right
  after a character does not (`a#b` stays `a#b`);
- `NAME="value"`: double quotes removed, `\\n \\r \\t \\\\ \\" \\$` unescaped; may span lines;
  a `#` inside is kept; anything after the closing quote is ignored;
- `NAME='value'`: single quotes removed, taken literally (only `\\'` unescaped); may span lines;
- unquoted and double-quoted values interpolate `$NAME`, `${NAME}`, `${NAME:-default}`,
  `${NAME-default}`, `${NAME:+other}`, `${NAME+other}`, `${NAME:?error}`, `${NAME?error}` from the
  process environment, then the names defined earlier in the file; `$$` is a literal `$`;
- a lone `NAME` (no `=`) takes the process environment's value, if any.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path

from .errors import StackError

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_KEY = re.compile(r"[\w.-]+")
_EXPRESSION = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-+?])(.*))?", re.DOTALL)
_DOUBLE_QUOTED_ESCAPES = {
    "n": "\n", "r": "\r", "t": "\t", "a": "\a", "b": "\b", "f": "\f", "v": "\v",
    "\\": "\\", '"': '"', "'": "'", "$": "$$",  # `$$`: a literal $ that interpolation keeps
}  # fmt: skip


class EnvFileError(StackError):
    """A line that compose would refuse too (named by file and line)."""


def read_env(path: Path, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The variables of an env file, as compose reads them (see the module's docstring)."""
    return parse_env(path.read_text(), str(path), os.environ if environ is None else environ)


def parse_env(text: str, source: str, environ: Mapping[str, str]) -> dict[str, str]:
    values: dict[str, str] = {}

    def lookup(name: str) -> str | None:
        return environ[name] if name in environ else values.get(name)

    lines = text.splitlines()
    index = 0
    while index < len(lines):
        number, line = index + 1, lines[index].strip()
        index += 1
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :].lstrip()
        key, has_value, rest = (part.strip() for part in line.partition("="))
        where = f"{source}:{number}"
        if not _KEY.fullmatch(key):
            raise EnvFileError(f"{where}: expected NAME=VALUE, got {line!r}")
        if not has_value:
            if key in environ:
                values[key] = environ[key]
            continue
        quote = rest[:1]
        if quote not in ("'", '"'):
            value = re.split(r"\s#", rest, maxsplit=1)[0].rstrip()
            values[key] = interpolate(value, lookup, where)
            continue
        body, end = rest[1:], _closing_quote(rest[1:], quote)
        while end is None and index < len(lines):  # a quoted value may span lines
            body += "\n" + lines[index]
            index += 1
            end = _closing_quote(body, quote)
        if end is None:
            raise EnvFileError(f"{where}: the value of {key} has no closing {quote}")
        if quote == "'":
            values[key] = body[:end].replace("\\'", "'")
        else:
            values[key] = interpolate(_unescape(body[:end]), lookup, where)
    return values


def _closing_quote(text: str, quote: str) -> int | None:
    """Index of the first `quote` not preceded by a backslash (compose's rule)."""
    for index, char in enumerate(text):
        if char == quote and (index == 0 or text[index - 1] != "\\"):
            return index
    return None


def _unescape(text: str) -> str:
    return re.sub(
        r"\\(.)", lambda m: _DOUBLE_QUOTED_ESCAPES.get(m.group(1), m.group(0)), text, flags=re.S
    )


def interpolate(text: str, lookup: Callable[[str], str | None], where: str) -> str:
    """Replace $NAME and ${NAME…} as compose does; `$$` is a literal `$`."""
    out, index = [], 0
    while index < len(text):
        char, following = text[index], text[index + 1 : index + 2]
        if char != "$":
            out.append(char)
            index += 1
        elif following == "$":
            out.append("$")
            index += 2
        elif following == "{":
            end = _closing_brace(text, index + 1)
            if end is None:
                raise EnvFileError(f"{where}: ${{ without its closing }} in {text!r}")
            out.append(_substitute(text[index + 2 : end], lookup, where))
            index = end + 1
        elif name := _NAME.match(text, index + 1):
            out.append(lookup(name.group()) or "")
            index = name.end()
        else:
            out.append(char)
            index += 1
    return "".join(out)


def _closing_brace(text: str, start: int) -> int | None:
    depth = 0
    for index in range(start, len(text)):
        depth += {"{": 1, "}": -1}.get(text[index], 0)
        if depth == 0:
            return index
    return None


def _substitute(expression: str, lookup: Callable[[str], str | None], where: str) -> str:
    match = _EXPRESSION.fullmatch(expression)
    if not match:
        raise EnvFileError(f"{where}: ${{{expression}}} is not a variable compose can replace")
    name, operator, argument = match.groups()
    value = lookup(name)
    if not operator:
        return value or ""
    present = bool(value) if operator.startswith(":") else value is not None
    if operator.endswith("-"):
        return value if present else interpolate(argument, lookup, where)
    if operator.endswith("+"):
        return interpolate(argument, lookup, where) if present else ""
    if not present:
        raise EnvFileError(f"{where}: {name} is required: {argument or 'set it'}")
    return value
