"""Boot the whole stack on this machine without Docker: the same services, configs, settings.

Usage:
    python3 scripts/local/stack.py up     [--state-dir DIR] [--http-port N] [--https-port N]
                                          [--detach] [--server-name NAME]
                                          [--acme-server URL [--acme-ca FILE]]
    python3 scripts/local/stack.py status [--state-dir DIR]
    python3 scripts/local/stack.py down   [--state-dir DIR]
    python3 scripts/local/stack.py test   [--state-dir DIR] [-- PYTEST_ARGS]
    python3 scripts/local/stack.py manage [--state-dir DIR] create-admin EMAIL
    python3 scripts/local/stack.py manage [--state-dir DIR] reset-password EMAIL
    python3 scripts/local/stack.py manage [--state-dir DIR] send-test-mail ADDRESS
    python3 scripts/local/stack.py manage [--state-dir DIR] outbox-status
    python3 scripts/local/stack.py secrets    (a new .env with fresh secrets, e.g. in CI)

`up` prepares what it needs on first use (a virtualenv with the services' pinned dependencies, a
PostgreSQL cluster and a self-signed certificate in the state dir), migrates the database, starts
PostgreSQL, storage, backend, the frontend nginx and the edge nginx on 127.0.0.1, waits until every
health check passes and prints the URL, how to sign in and how to stop. Data survives
`down`/`up`; delete the state dir to start over.
Standard library only, so it runs before any virtualenv exists.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path

from .config import PROJECT, Project, write_new_secrets
from .errors import StackError
from .runner import Stack

COMMANDS = {
    "up": "start the stack (or what of it is stopped) and print its URL",
    "status": "print the URL, ports and health of each service as JSON",
    "down": "stop every service; the data stays in the state dir",
    "test": "run the backend's and the storage's own pytest suites",
    "manage": "create an administrator or reset a password (prints the new password); "
    "send a test mail, or count the outbox's mails waiting and failed",
}


def build_parser() -> argparse.ArgumentParser:
    # The module's docstring lists every command and option: `--help` shows it whole.
    parser = argparse.ArgumentParser(
        prog="scripts/local/stack.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("secrets", help="write a new .env with fresh random secrets")
    for name, summary in COMMANDS.items():
        cmd = sub.add_parser(name, help=summary, description=summary)
        cmd.add_argument(
            "--state-dir",
            type=Path,
            default=PROJECT / ".stack",
            help="where data, logs and configs live (default: .stack in the project)",
        )
        if name == "test":
            cmd.add_argument("pytest_args", nargs="*", help="passed to pytest (after --)")
        if name == "manage":
            cmd.add_argument(
                "action",
                choices=["create-admin", "reset-password", "send-test-mail", "outbox-status"],
                help="create (or promote) an administrator, give an account a new password, "
                "send a test mail, or count the mails waiting and failed",
            )
            cmd.add_argument(
                "email", nargs="?", help="the account's (or the test mail's) e-mail address"
            )
            cmd.add_argument("--name", help="create-admin: display name of a new account")
        if name == "up":
            add_up_options(cmd)
    return parser


def add_up_options(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("--http-port", type=int, help="edge HTTP port (default: a free one)")
    cmd.add_argument("--https-port", type=int, help="edge HTTPS port (default: a free one)")
    cmd.add_argument(
        "--detach", action="store_true", help="return once healthy and leave the stack running"
    )
    cmd.add_argument("--server-name", help="host name the edge answers to (default: localhost)")
    cmd.add_argument(
        "--acme-server",
        help="ACME directory URL: get the certificate from it by HTTP-01 (certbot), "
        "as deploy_ssl does, instead of a self-signed one",
    )
    cmd.add_argument("--acme-ca", help="CA bundle that verifies the ACME server's HTTPS")


def main(argv: list[str] | None = None) -> int:
    # The services' code and pins need 3.11, as this runner does.
    if sys.version_info < (3, 11):  # noqa: UP036 - says so instead of failing later
        print(
            f"error: Python ≥ 3.11 is needed (this is {sys.version.split()[0]}): run this script "
            "with a newer interpreter, e.g. `python3.12 scripts/local/stack.py up`.",
            file=sys.stderr,
        )
        return 1
    args = build_parser().parse_args(argv)
    try:
        if args.command == "secrets":
            print(f"New secrets written to {write_new_secrets(Project())} (mode 600).")
            return 0
        stack = Stack(args.state_dir)
        if args.command == "status":
            print(json.dumps(stack.status(), indent=2))
            return 0
        if args.command == "down":
            stack.down()
            print(f"Stack stopped; data kept in {stack.state.root}")
            return 0
        if args.command == "test":
            return stack.test(args.pytest_args)
        if args.command == "manage":
            if (args.email is None) != (args.action == "outbox-status"):
                wanted = "takes no address" if args.email else "needs an e-mail address"
                print(f"error: manage {args.action} {wanted}", file=sys.stderr)
                return 2
            name = ["--name", args.name] if args.name else []
            address = [args.email] if args.email else []
            return stack.manage([args.action, *address, *name])
        return up(stack, args)
    except StackError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def follow_mail(index: Path) -> None:
    """Print each mail the catcher receives, one line with its link (mailcatcher.py), forever."""
    seen = index.stat().st_size if index.is_file() else 0
    while True:
        time.sleep(1)
        if index.is_file() and index.stat().st_size > seen:
            with open(index) as lines:
                lines.seek(seen)
                print(lines.read(), end="", flush=True)
                seen = lines.tell()


def up(stack: Stack, args: argparse.Namespace) -> int:
    """`up`: start, say how to sign in and stop; with --detach return, else wait for Ctrl-C."""
    acme = {"server": args.acme_server, "ca": args.acme_ca or ""} if args.acme_server else None
    try:
        stack.up(args.server_name, args.http_port, args.https_port, acme)
    except BaseException:
        stack.down()  # no half-started stack: logs stay in the state dir
        raise
    root = stack.project.root
    admin = stack.project.settings.get("FIRST_ADMIN_EMAIL", "FIRST_ADMIN_EMAIL (settings.env)")
    print(
        f"Sign in as {admin} with FIRST_ADMIN_PASSWORD from {os.path.relpath(root / '.env')}"
        " (the certificate is self-signed: accept the browser's warning).",
        flush=True,
    )
    if args.detach:
        state = "" if args.state_dir == root / ".stack" else f" --state-dir {args.state_dir}"
        script = os.path.relpath(root / "scripts" / "local" / "stack.py")
        print(f"Stop it with: python3 {script} down{state}", flush=True)
        return 0
    try:  # from here on, Ctrl-C (or SIGTERM) stops the stack, even before the wait starts
        signal.signal(signal.SIGTERM, _interrupt)
        print("Press Ctrl-C to stop (the data stays in the state dir).", flush=True)
        follow_mail(stack.state.path("mail", "index.log"))
    except KeyboardInterrupt:
        stack.down()
        print("Stack stopped.")
    return 0
