"""The operator's way in when nobody can sign in: run on the server, it prints a new password.

    python -m app.manage create-admin EMAIL [--name NAME]
    python -m app.manage reset-password EMAIL
    python -m app.manage send-test-mail ADDRESS   # one mail now, straight through SMTP
    python -m app.manage outbox-status            # mails waiting and failed (for `status`)

With Docker: `docker compose exec backend python -m app.manage …`; with the native runner:
`python3 scripts/local/stack.py manage …`. create-admin makes an active administrator (an
existing account of that e-mail is promoted and reactivated); both commands set a new random
password, end the account's sessions, lift its log-in throttle and print the password once.
Each run is recorded in the audit log as done by "command line".
"""

from __future__ import annotations

import argparse
import secrets
import sys
from datetime import UTC, datetime

from sqlalchemy import Connection, create_engine, delete, insert, select, update
from sqlalchemy.pool import NullPool

from app.core.config import settings
from app.core.messages import say
from app.core.security import password_hash
from app.mail import commands
from app.models import AuditEntry, AuthThrottle, RefreshToken, Role, User
from app.schemas import normalise_email

ACTOR = "command line"


def new_password() -> str:
    return secrets.token_urlsafe(15)  # 20 characters, 120 bits: passes every password rule


def _end_sessions_and_throttle(connection: Connection, user_id: object, email: str) -> None:
    connection.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC))
    )
    connection.execute(delete(AuthThrottle).where(AuthThrottle.key == f"login:{email}"))


def create_admin(connection: Connection, *, email: str, name: str | None) -> str:
    password = new_password()
    hashed = password_hash.hash(password)
    user_id = connection.scalar(select(User.id).where(User.email == email))
    if user_id is None:
        user_id = connection.scalar(
            insert(User)
            .values(
                email=email,
                hashed_password=hashed,
                role=Role.ADMIN,
                full_name=name or say("first_admin_name"),
            )
            .returning(User.id)
        )
        message = say("cli_admin_created", email=email, password=password)
    else:
        connection.execute(
            update(User)
            .where(User.id == user_id)
            .values(role=Role.ADMIN, is_active=True, hashed_password=hashed)
        )
        _end_sessions_and_throttle(connection, user_id, email)
        message = say("cli_admin_promoted", email=email, password=password)
    connection.execute(
        insert(AuditEntry).values(
            actor_email=ACTOR, action="create_admin", target_id=user_id, target_email=email
        )
    )
    return message


def reset_password(connection: Connection, *, email: str) -> str:
    user_id = connection.scalar(select(User.id).where(User.email == email))
    if user_id is None:
        raise SystemExit(say("cli_no_account", email=email))
    password = new_password()
    connection.execute(
        update(User).where(User.id == user_id).values(hashed_password=password_hash.hash(password))
    )
    _end_sessions_and_throttle(connection, user_id, email)
    connection.execute(
        insert(AuditEntry).values(
            actor_email=ACTOR, action="reset_password", target_id=user_id, target_email=email
        )
    )
    return say("cli_password_reset", email=email, password=password)


def _print_outbox_status() -> int:
    engine = create_engine(settings.database_url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            print(commands.outbox_status(connection))
    finally:
        engine.dispose()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.manage", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    admin = sub.add_parser("create-admin", help="create (or promote) an administrator")
    admin.add_argument("email")
    admin.add_argument("--name", help="display name of a new account")
    reset = sub.add_parser("reset-password", help="give an account a new random password")
    reset.add_argument("email")
    test_mail = sub.add_parser("send-test-mail", help="send a test mail now (checks SMTP_*)")
    test_mail.add_argument("address")
    sub.add_parser("outbox-status", help="count the mails waiting and failed")
    args = parser.parse_args(argv)
    if args.command == "send-test-mail":
        print(commands.send_test_mail(args.address))
        return 0
    if args.command == "outbox-status":
        return _print_outbox_status()
    try:
        email = normalise_email(args.email)
    except ValueError as exc:
        parser.error(f"{args.email!r}: {exc}")
    engine = create_engine(settings.database_url, poolclass=NullPool)
    try:
        with engine.begin() as connection:
            if args.command == "create-admin":
                message = create_admin(connection, email=email, name=args.name)
            else:
                message = reset_password(connection, email=email)
    finally:
        engine.dispose()
    print(message)
    return 0


if __name__ == "__main__":  # pragma: no cover - the module is run as a script
    sys.exit(main())
