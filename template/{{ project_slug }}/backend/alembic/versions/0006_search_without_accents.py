"""files: the name search ignores accents as well as case ("dupre" finds "Dupré"), on an index

`folded(text)` is lower(unaccent(text)), declared IMMUTABLE so an index can use it (unaccent() is
only STABLE because its dictionary could change; this one names its dictionary and never does).
The trigram index on lower(name) is replaced by one on folded(name).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    connection = op.get_bind()
    available = connection.scalar(
        sa.text("SELECT count(*) FROM pg_available_extensions WHERE name = 'unaccent'")
    )
    if not available:
        raise RuntimeError(
            "PostgreSQL's unaccent extension is not installed on the database server: install its "
            "contrib modules (Debian: postgresql-contrib; the official image has them)."
        )
    # A trusted extension (PostgreSQL >= 13): the database's owner may create it.
    op.execute("CREATE EXTENSION IF NOT EXISTS unaccent")
    schema = connection.scalar(
        sa.text(
            "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
            "WHERE e.extname = 'unaccent'"
        )
    )
    op.execute(
        f"CREATE FUNCTION folded(text) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT "
        f"AS $$ SELECT lower({schema}.unaccent('{schema}.unaccent'::regdictionary, $1)) $$"
    )
    op.drop_index("ix_files_name_trigram", table_name="files")
    op.create_index(
        "ix_files_name_trigram",
        "files",
        [sa.text("folded(name) gin_trgm_ops")],
        postgresql_using="gin",
    )


def downgrade() -> None:
    op.drop_index("ix_files_name_trigram", table_name="files")
    op.create_index(
        "ix_files_name_trigram",
        "files",
        [sa.text("lower(name) gin_trgm_ops")],
        postgresql_using="gin",
    )
    op.execute("DROP FUNCTION folded(text)")
    # unaccent stays: other objects of the database may use it.
