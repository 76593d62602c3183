"""Run before the server: wait for the database, migrate it, create the first administrator.

    python -m app.prestart

Safe to run at every start and from several instances at once (an advisory lock serialises
them); the first administrator is created once, ever: a milestone row remembers it, so an admin
deleted or renamed later never comes back with .env's password, and .env changes nothing after.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, insert, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from alembic import command
from app.core.config import settings
from app.core.logging import configure_logging
from app.core.messages import say
from app.core.security import password_hash
from app.models import AuditEntry, Milestone, Role, User
from app.schemas import normalise_email

logger = logging.getLogger("app.prestart")
ALEMBIC_INI = Path(__file__).resolve().parents[1] / "alembic.ini"
# Any constant shared by every instance of this backend: the key of its advisory lock.
PRESTART_LOCK_KEY = 0x636C6F736F
FIRST_ADMIN_MILESTONE = "first_admin_created"
# Who the audit log says created the first administrator.
FIRST_START = "first start"


def wait_for_database(engine: Engine, *, timeout: float = 60.0, interval: float = 1.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            return
        except OperationalError as exc:
            if time.monotonic() >= deadline:
                raise SystemExit(
                    f"PostgreSQL at {settings.POSTGRES_HOST}:{settings.POSTGRES_PORT} did not "
                    f"answer within {timeout:.0f} s ({exc.orig}). Check that it runs and "
                    "that POSTGRES_* in settings.env and .env are right."
                ) from exc
            time.sleep(interval)


def migrate(connection: Connection) -> None:
    config = Config(ALEMBIC_INI)
    config.attributes.update(connection=connection, configure_logger=False)
    command.upgrade(config, "head")


def ensure_first_admin(connection: Connection) -> bool:
    """Create the administrator of FIRST_ADMIN_EMAIL at the site's first start; True if created.

    Once only: later starts find the milestone and do nothing, whatever became of that account."""
    done = select(Milestone.name).where(Milestone.name == FIRST_ADMIN_MILESTONE)
    if connection.scalar(done) is not None:
        return False
    connection.execute(insert(Milestone).values(name=FIRST_ADMIN_MILESTONE))
    email = normalise_email(settings.FIRST_ADMIN_EMAIL)
    if connection.scalar(select(User.id).where(User.email == email)) is not None:
        return False
    user_id = connection.scalar(
        insert(User)
        .values(
            email=email,
            hashed_password=password_hash.hash(settings.FIRST_ADMIN_PASSWORD),
            role=Role.ADMIN,
            full_name=say("first_admin_name"),
        )
        .returning(User.id)
    )
    connection.execute(
        insert(AuditEntry).values(
            actor_email=FIRST_START, action="first_admin", target_id=user_id, target_email=email
        )
    )
    return True


def main() -> None:
    configure_logging()
    engine = create_engine(settings.database_url, poolclass=NullPool)
    wait_for_database(engine)
    with engine.begin() as connection:
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PRESTART_LOCK_KEY})
        migrate(connection)
        created = ensure_first_admin(connection)
    engine.dispose()
    logger.info("database ready", extra={"fields": {"first_admin_created": created}})


if __name__ == "__main__":  # pragma: no cover - the module is run as a script
    sys.exit(main())
