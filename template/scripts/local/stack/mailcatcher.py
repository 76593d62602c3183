"""The local mail catcher: an SMTP server on loopback (aiosmtpd, from the backend's dev
requirements, run with the services' virtualenv) that keeps each mail it receives as a .eml file
in the state dir's mail/ folder and adds one line to mail/index.log (which `up` shows) with the
recipient, the subject and the mail's first link, so a developer follows every flow without a
real mail server. The runner starts it when ENVIRONMENT=local and settings.local.env names no
SMTP_HOST (with one, the mailer sends there instead).

    python mailcatcher.py PORT FOLDER
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
import sys
import time
from pathlib import Path

from aiosmtpd.controller import Controller

LINK = re.compile(r"https?://\S+")


class Catcher:
    def __init__(self, folder: Path):
        self.folder = folder

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 - aiosmtpd's name
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path = self.folder / f"{stamp}-{time.monotonic_ns() % 10**9}.eml"
        path.write_bytes(envelope.original_content or envelope.content)
        parsed = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        body = parsed.get_body(("plain",))
        link = LINK.search(body.get_content() if body else "")
        line = (
            f"mail to {', '.join(envelope.rcpt_tos)}: {parsed['subject']}"
            f"{' -> ' + link.group(0) if link else ''} ({path})"
        )
        with open(self.folder / "index.log", "a") as index:
            index.write(line + "\n")
        print(line, flush=True)
        return "250 OK"


def main() -> int:
    port, folder = int(sys.argv[1]), Path(sys.argv[2])
    folder.mkdir(parents=True, exist_ok=True)
    controller = Controller(Catcher(folder), hostname="127.0.0.1", port=port)
    controller.start()
    print(f"mail catcher on 127.0.0.1:{port}, mails in {folder}", flush=True)
    try:
        asyncio.run(asyncio.Event().wait())
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
