"""Database access: the SQLAlchemy engine for the application, and a lean pool for hot reads.

Every authenticated request looks its account up by primary key. Through an SQLAlchemy session
that costs about 300 µs of CPU (pool checkout, transaction, ORM); a prepared statement on an
autocommit psycopg connection costs about 40 µs, which is most of what lets one worker answer
~1000 authenticated requests per second (GET /api/users/me reads its pending address there
too, crud.PENDING_EMAIL). Everything else goes through the ORM.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from psycopg import AsyncConnection
from psycopg.conninfo import make_conninfo
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from app.core.config import settings

DATABASE_WAIT_SECONDS = 3

# Creating the engine opens no connection; the pool fills on first use.
# pool_pre_ping: a connection dropped by a database restart is replaced, not failing a request.
# Pool sizes: at most 15 + 5 connections per worker, so 4 workers stay under PostgreSQL's
# default max_connections (100).
# Timeouts: while the database is down a request must fail fast with a 503, not hang; a few
# seconds cover a busy pool and a slow connect.
engine = create_async_engine(
    settings.database_url,
    pool_size=5,
    max_overflow=10,
    pool_pre_ping=True,
    pool_timeout=DATABASE_WAIT_SECONDS,
    connect_args={"connect_timeout": DATABASE_WAIT_SECONDS},
)
SessionFactory = async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


async def get_session() -> AsyncIterator[AsyncSession]:
    async with SessionFactory() as session:
        yield session


async def release(session: AsyncSession) -> None:
    """End the session's transaction, handing its pooled connection back, before CPU-bound work
    (argon2, strength checks): a request waiting for a hashing slot must not hold one of the
    few connections every other request needs. The session takes a connection again when next
    used; its objects stay loaded (expire_on_commit=False)."""
    await session.commit()


# Opened by the application's lifespan (app.main); a connection is checked out per lookup.
account_pool: AsyncConnectionPool[AsyncConnection[DictRow]] = AsyncConnectionPool(
    make_conninfo(
        host=settings.POSTGRES_HOST,
        port=settings.POSTGRES_PORT,
        dbname=settings.POSTGRES_DB,
        user=settings.POSTGRES_USER,
        password=settings.POSTGRES_PASSWORD,
        application_name="backend-accounts",
        connect_timeout=DATABASE_WAIT_SECONDS,
    ),
    kwargs={"autocommit": True, "row_factory": dict_row, "prepare_threshold": 0},
    min_size=1,
    max_size=5,  # a lookup holds its connection for ~0.1 ms: 5 serve thousands per second
    timeout=DATABASE_WAIT_SECONDS,
    open=False,
    name="accounts",
)
