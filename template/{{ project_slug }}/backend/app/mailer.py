"""The mailer: sends the outbox's mails (app/mail/sender.py), as a process of its own.

    python -m app.mailer           # runs until SIGTERM or SIGINT
    python -m app.mailer --check   # exit 0 when a running mailer is alive (the health check)

Started with the stack (compose.yaml's `mailer`, the native runner's recipe). With mail off
(SMTP_HOST or MAIL_FROM empty) it only waits, so the stack is the same either way. SIGTERM lets
the mail being sent finish and be marked, then stops.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path

from sqlalchemy import create_engine

from app.core.config import settings
from app.core.logging import configure_logging
from app.mail.sender import Sender

logger = logging.getLogger("app.mailer")
HEARTBEAT = Path(os.environ.get("MAILER_HEARTBEAT_FILE", "/tmp/mailer.heartbeat"))  # noqa: S108
STALE_SECONDS = 90  # longer than a send's timeouts (connect + each command: 30 s)


def beat() -> None:
    HEARTBEAT.touch()


def check() -> int:
    try:
        age = time.time() - HEARTBEAT.stat().st_mtime
    except FileNotFoundError:
        return 1
    return 0 if age < STALE_SECONDS else 1


def run() -> int:
    configure_logging(service="mailer")
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    if not settings.mail_enabled:
        logger.info("mail is off (SMTP_HOST or MAIL_FROM empty): nothing to send")
        while not stop.is_set():
            beat()
            stop.wait(10)
        return 0
    # One connection kept: each mail is a transaction of its own.
    engine = create_engine(settings.database_url, pool_size=1, pool_pre_ping=True)
    logger.info(
        "sending mail through %s:%d (%s)",
        settings.SMTP_HOST,
        settings.SMTP_PORT,
        settings.SMTP_SECURITY,
    )
    try:
        Sender(engine, stop, beat).run()
    finally:
        engine.dispose()
    logger.info("mailer stopped")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.mailer", description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 0 when the mailer is alive")
    args = parser.parse_args(argv)
    return check() if args.check else run()


if __name__ == "__main__":  # pragma: no cover - the module is run as a script
    sys.exit(main())
