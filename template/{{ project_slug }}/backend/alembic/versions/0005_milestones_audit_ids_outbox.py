"""milestones (the first administrator is created once, ever), audit_log actor_id/target_id,
pending_owner_blocks (storage's blocks of download links, an outbox)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "milestones",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column(
            "reached_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_milestones")),
    )
    # A site that already has accounts had its first start: its first administrator was created
    # then, and must not come back if it was deleted or renamed since.
    op.execute(
        "INSERT INTO milestones (name) SELECT 'first_admin_created' "
        "WHERE EXISTS (SELECT 1 FROM users)"
    )
    for column in ("actor_id", "target_id"):
        op.add_column("audit_log", sa.Column(column, sa.Uuid(), nullable=True))
        op.create_foreign_key(
            op.f(f"fk_audit_log_{column}_users"),
            "audit_log",
            "users",
            [column],
            ["id"],
            ondelete="SET NULL",
        )
        op.create_index(op.f(f"ix_audit_log_{column}"), "audit_log", [column])
    op.create_table(
        "pending_owner_blocks",
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("blocked", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["users.id"],
            name=op.f("fk_pending_owner_blocks_owner_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("owner_id", name=op.f("pk_pending_owner_blocks")),
    )


def downgrade() -> None:
    op.drop_table("pending_owner_blocks")
    for column in ("target_id", "actor_id"):
        op.drop_index(op.f(f"ix_audit_log_{column}"), table_name="audit_log")
        op.drop_constraint(op.f(f"fk_audit_log_{column}_users"), "audit_log", type_="foreignkey")
        op.drop_column("audit_log", column)
    op.drop_table("milestones")
