"""A real Windows cmd for the `windows` layer: Wine, with Debian 13's Wine 10 cmd.exe.

`wine` (session fixture) gives a `Wine` whose `run` starts a command line under Wine 10's cmd, as
a user types it in a terminal or as Explorer starts a double-clicked script. What is real: cmd.exe,
where.exe, findstr.exe (Wine 10's, from Debian 13, run by Debian 12's Wine 8: Wine 8's own cmd runs
the right side of `a || b` whatever `a` returned). What stands in: ssh.exe, scp.exe and tar.exe
are built here from standin.c (they log their arguments and exit with a chosen code), because the
layer proves what the scripts send and how they react, not a server; standin.sh is their POSIX
twin for the .sh scripts.

Slow set-up (Wine's prefix, ~10 s; the stand-ins) is cached outside the clone in
${XDG_CACHE_HOME:-~/.cache}/closo-template/wine-<hash of what built it>; each session works on a
hard-linked copy of it (registry files copied) and its own persistent wineserver, stopped by PID
and `wineserver -k` whatever happens.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "closo-template"
TOOLS = ("ssh", "scp", "tar")
WINE10_EXES = ("cmd.exe", "where.exe", "findstr.exe")
SETUP_HINT = "run `bash scripts/setup.sh` (as root on Debian: it installs them)"


def _base_env(prefix: Path) -> dict[str, str]:
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": os.environ.get("HOME", "/root"),
        "LANG": "C.UTF-8",
        "WINEPREFIX": str(prefix),
        "WINEDEBUG": "-all",
        # Wine 10's cmd, where, findstr from the prefix (native) instead of Wine 8's builtins;
        # no Mono or Gecko installer when the prefix is made.
        "WINEDLLOVERRIDES": "cmd.exe,findstr.exe,where.exe=n;mscoree,mshtml=",
        "WINEPATH": r"C:\standins",
    }


def windows_path(path: Path) -> str:
    """A Linux path as Wine's programs see it (drive Z: is /)."""
    return "Z:" + str(path).replace("/", "\\")


@dataclass
class Wine:
    prefix: Path
    posix_bin: Path  # standin.sh as ssh, scp, tar: put first on PATH for the .sh scripts

    def run(
        self,
        command_line: str,
        *,
        cwd: Path,
        log: Path,
        stdin: bytes = b"",
        env: dict[str, str] | None = None,
        timeout: float = 60,
    ) -> subprocess.CompletedProcess[bytes]:
        """Run `command_line` as typed in a cmd terminal (cmd /d /c %COMMAND%: cmd parses it
        exactly as a typed line, and Wine's quoting of Linux arguments does not get in the way).
        For a double-click, pass `cmd.exe /c ""<script>" "`, the line Explorer starts."""
        run_env = {
            **_base_env(self.prefix),
            "STANDIN_LOG": str(log),
            "CLOSO_COMMAND": command_line,
            **(env or {}),
        }
        return subprocess.run(
            ["wine", "cmd", "/d", "/c", "%CLOSO_COMMAND%"],
            cwd=cwd,
            input=stdin,
            env=run_env,
            capture_output=True,
            timeout=timeout,
        )

    def run_sh(
        self,
        script: Path,
        *args: str,
        cwd: Path,
        log: Path,
        stdin: bytes = b"",
        env: dict[str, str] | None = None,
        timeout: float = 60,
    ) -> subprocess.CompletedProcess[bytes]:
        """Run a .sh twin with the POSIX stand-ins first on PATH."""
        run_env = {
            "PATH": f"{self.posix_bin}:/usr/bin:/bin",
            "HOME": os.environ.get("HOME", "/root"),
            "LANG": "C.UTF-8",
            "STANDIN_LOG": str(log),
            **(env or {}),
        }
        return subprocess.run(
            ["sh", str(script), *args],
            cwd=cwd,
            input=stdin,
            env=run_env,
            capture_output=True,
            timeout=timeout,
        )


def _require(*commands: str) -> None:
    missing = [c for c in commands if shutil.which(c) is None]
    if missing:
        pytest.fail(f"{', '.join(missing)} not found: {SETUP_HINT}.", pytrace=False)


def _wine10() -> Path:
    """Wine 10's three .exe (tests/support/wine/install.sh downloads them once)."""
    result = subprocess.run(
        ["bash", str(HERE / "install.sh")], capture_output=True, text=True, timeout=600
    )
    if result.returncode != 0:
        pytest.fail(f"Wine 10's cmd.exe could not be installed:\n{result.stderr}", pytrace=False)
    return Path(result.stdout.strip().splitlines()[-1])


def _cache_key(wine10: Path) -> str:
    wine_version = subprocess.run(
        ["wine", "--version"], capture_output=True, text=True, check=True
    ).stdout
    digest = hashlib.sha256(wine_version.encode())
    digest.update((wine10 / "VERSION").read_bytes())
    for name in ("fixtures.py", "standin.c", "standin.sh"):
        digest.update((HERE / name).read_bytes())
    return digest.hexdigest()[:16]


def _build_prefix(dest: Path, wine10: Path) -> None:
    """A Wine prefix with Wine 10's cmd and the stand-ins in C:\\standins, made in a temporary
    folder and renamed into place, so an interrupted build is never taken for a cached one."""
    build = Path(tempfile.mkdtemp(prefix=dest.name + ".", dir=dest.parent))
    prefix = build / "prefix"
    # Wine 8's own cmd makes the prefix: Wine 10's is copied in afterwards.
    env = {**_base_env(prefix), "WINEDLLOVERRIDES": "mscoree,mshtml="}
    try:
        for command in (["wine", "cmd", "/c", "ver"], ["wineserver", "-w"]):
            subprocess.run(
                command,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=300,
                check=True,
            )
        system32 = prefix / "drive_c" / "windows" / "system32"
        for exe in WINE10_EXES:
            shutil.copyfile(wine10 / exe, system32 / exe)
        standins = prefix / "drive_c" / "standins"
        standins.mkdir()
        for tool in TOOLS:
            subprocess.run(
                [
                    "x86_64-w64-mingw32-gcc",
                    "-O2",
                    "-s",
                    f'-DTOOL="{tool}"',
                    "-o",
                    str(standins / f"{tool}.exe"),
                    str(HERE / "standin.c"),
                ],
                check=True,
                timeout=120,
            )
        posix_bin = build / "bin"
        posix_bin.mkdir()
        for tool in TOOLS:
            script = posix_bin / tool
            script.write_text((HERE / "standin.sh").read_text().replace("TOOL", tool))
            script.chmod(0o755)
        build.rename(dest)
    finally:
        shutil.rmtree(build, ignore_errors=True)


def _session_copy(cached: Path, dest: Path) -> Path:
    """Hard links for the prefix's 700 MB of DLLs (never written); real copies of the registry
    files, which Wine rewrites."""
    subprocess.run(["cp", "-al", str(cached), str(dest)], check=True)
    for reg in dest.glob("prefix/*.reg"):
        data = reg.read_bytes()
        reg.unlink()
        reg.write_bytes(data)
    return dest


@pytest.fixture(scope="session")
def wine(session_tmp: Path) -> Iterator[Wine]:
    """Wine with Wine 10's cmd and the stand-ins, and a persistent wineserver of its own."""
    _require("wine", "wineserver", "x86_64-w64-mingw32-gcc", "apt-get", "dpkg-deb")
    wine10 = _wine10()
    CACHE.mkdir(parents=True, exist_ok=True)
    cached = CACHE / f"wine-{_cache_key(wine10)}"
    if not cached.exists():
        _build_prefix(cached, wine10)
    home = _session_copy(cached, session_tmp / "wine")
    env = _base_env(home / "prefix")
    # A persistent wineserver makes each run 0.2-1 s instead of several seconds.
    server = subprocess.Popen(
        ["wineserver", "--foreground", "--persistent"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        # Started once with its output discarded: services Wine starts on the first call inherit
        # that call's pipes, and would hold a captured run open.
        subprocess.run(
            ["wine", "cmd", "/c", "ver"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=120,
            check=True,
        )
        yield Wine(prefix=home / "prefix", posix_bin=home / "bin")
    finally:
        subprocess.run(["wineserver", "-k"], env=env, timeout=30, check=False)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.send_signal(signal.SIGKILL)
            server.wait(timeout=15)
