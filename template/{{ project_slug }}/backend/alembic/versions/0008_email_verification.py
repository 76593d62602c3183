"""users.email_verified and the email_verification link kind (address verification by mail)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Every existing account stays usable: only an open sign-up made from now on while the site
    # sends mail starts unverified.
    op.add_column(
        "users",
        sa.Column("email_verified", sa.Boolean(), server_default=sa.true(), nullable=False),
    )
    # Not used in this transaction, so ADD VALUE may run inside it (PostgreSQL 12 and later).
    op.execute("ALTER TYPE link_kind ADD VALUE IF NOT EXISTS 'email_verification'")


def downgrade() -> None:
    op.execute("DELETE FROM account_links WHERE kind = 'email_verification'")
    op.execute("ALTER TYPE link_kind RENAME TO link_kind_0008")
    op.execute("CREATE TYPE link_kind AS ENUM ('invitation', 'password_reset')")
    op.execute(
        "ALTER TABLE account_links ALTER COLUMN kind TYPE link_kind USING kind::text::link_kind"
    )
    op.execute("DROP TYPE link_kind_0008")
    op.drop_column("users", "email_verified")
