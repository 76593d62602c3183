"""Outgoing mail: does a password-reset request wait for the mail server, and how fast does the
mailer deliver?

Usage (from the repository root, after scripts/setup.sh):
    .venv/bin/python bench/mail.py [--pairs 10] [--mails 300]

Boots a stack with its native runner, sending through a real SMTP server on loopback (aiosmtpd,
STARTTLS and AUTH, tests/support/smtp.py). 1. The server takes 5 s to accept each mail; a reset
request ("forgot password", POST /api/auth/forgot-password for an account) and a sign-in
(POST /api/auth/login) alternate over HTTPS through the edge, `--pairs` times: the medians and the
pair ratios (reset / sign-in). 2. The server answers at once; `--mails` mails are put in the
outbox in one transaction, and the time until the last is received gives mails per second.
"""

from __future__ import annotations

import argparse
import statistics
import time

from support.api import PASSWORD as ACCOUNT_PASSWORD
from support.api import admin_headers, edge_client, sql
from support.project import boot_stack, world_readable_tmpdir
from support.smtp import PASSWORD, SmtpServer
from support.waiting import wait_for

# `mails` test mails, due now, in one transaction.
INSERT_MAILS = """
INSERT INTO mail_outbox (id, message_id, kind, recipient, subject, text_body, html_body, status,
                         attempts)
SELECT gen_random_uuid(), '<bench-' || n || '-' || gen_random_uuid() || '@example.com>', 'test',
       'bench' || n || '@example.com', 'Bench', 'Text', '<p>Html</p>', 'waiting', 0
FROM generate_series(1, COUNT) AS n
"""


def timed(call) -> float:
    start = time.perf_counter()
    answer = call()
    elapsed = (time.perf_counter() - start) * 1000
    assert answer.status_code in (200, 202), answer.text
    return elapsed


def reset_against_sign_in(stack, server: SmtpServer, pairs: int) -> dict:
    server.handler.delay = 5.0
    resets, sign_ins = [], []
    with edge_client(stack) as client:
        # An account an administrator made: an open sign-up would wait for its address's link.
        email = f"bench-mail.{time.time_ns()}@example.com"
        account = {"email": email, "password": ACCOUNT_PASSWORD}
        made = client.post("/api/users", json=account, headers=admin_headers(client, stack))
        assert made.status_code == 201, made.text
        for _ in range(pairs):
            # Each request may mail: the per-address and per-client windows are emptied first.
            sql(stack, "DELETE FROM auth_throttle WHERE key LIKE 'forgot%'")
            resets.append(timed(lambda: client.post(
                "/api/auth/forgot-password", json={"email": account["email"]})))  # fmt: skip
            sign_ins.append(timed(lambda: client.post("/api/auth/login", data={
                "username": account["email"], "password": account["password"]})))  # fmt: skip
    ratios = [r / s for r, s in zip(resets, sign_ins, strict=True)]
    server.handler.delay = 0.0
    return {
        "reset_ms_median": round(statistics.median(resets), 1),
        "reset_ms_max": round(max(resets), 1),
        "sign_in_ms_median": round(statistics.median(sign_ins), 1),
        "ratio_median": round(statistics.median(ratios), 2),
        "ratio_range": (round(min(ratios), 2), round(max(ratios), 2)),
    }


def delivery_rate(stack, server: SmtpServer, mails: int) -> dict:
    wait_for(lambda: sql(stack, "SELECT count(*) FROM mail_outbox WHERE status = 'waiting'") == "0",
             120, what="the slow mails of part 1 delivered")  # fmt: skip
    before = len(server.handler.received())
    sql(stack, INSERT_MAILS.replace("COUNT", str(mails)))
    start = time.perf_counter()
    wait_for(lambda: len(server.handler.received()) - before >= mails, 600, interval=0.1,
             what=f"{mails} mails delivered")  # fmt: skip
    seconds = time.perf_counter() - start
    return {"mails": mails, "seconds": round(seconds, 2), "mails_per_s": round(mails / seconds, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=10)
    parser.add_argument("--mails", type=int, default=300)
    args = parser.parse_args()
    base = world_readable_tmpdir("closo-bench-mail-")
    server = SmtpServer(base / "smtp")
    server.start()
    stack = boot_stack(
        base / "stack",
        settings={**server.settings(), "AUTH_RATE_PER_MINUTE": "100000"},
        secrets={"SMTP_PASSWORD": PASSWORD},
    )
    try:
        print("reset request vs sign-in, SMTP server 5 s per mail:", reset_against_sign_in(
            stack, server, args.pairs), flush=True)  # fmt: skip
        print("delivery to loopback:", delivery_rate(stack, server, args.mails), flush=True)
    finally:
        stack.down()
        server.stop()


if __name__ == "__main__":
    main()
