"""appeals on the legal clock; the staff console's one-time links, sessions and audit log;
a wish's assignment to a staff member

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | Sequence[str] | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_TIME = sa.DateTime(timezone=True)


def _person(name: str = "person_id", action: str = "CASCADE") -> sa.Column[int]:
    return sa.Column(
        name,
        sa.Integer(),
        sa.ForeignKey("people.id", ondelete=action),
        nullable=action == "SET NULL",
    )


def upgrade() -> None:
    with op.batch_alter_table("wishes") as batch:
        batch.add_column(sa.Column("assigned_to", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_wishes_assigned_to", "people", ["assigned_to"], ["id"], ondelete="SET NULL"
        )
        batch.create_index("ix_wishes_assigned_to", ["assigned_to"])
    op.create_table(
        "appeals",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "wish_id",
            sa.Integer(),
            sa.ForeignKey("wishes.id", ondelete="CASCADE"),
            nullable=False,
            unique=True,
        ),
        sa.Column(
            "municipality_id",
            sa.Integer(),
            sa.ForeignKey("municipalities.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("number", sa.String(24), nullable=False),
        sa.Column("sealed", sa.Text(), nullable=True),
        sa.Column("registered_on", sa.Date(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False, index=True),
        sa.Column("first_due_on", sa.Date(), nullable=False),
        sa.Column("extended_reason", sa.Text(), nullable=True),
        sa.Column("answered_on", sa.Date(), nullable=True),
        sa.Column("reminded_before_at", UTC_TIME, nullable=True),
        sa.Column("reminded_due_at", UTC_TIME, nullable=True),
        sa.Column("overdue_at", UTC_TIME, nullable=True),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.UniqueConstraint("municipality_id", "number"),
    )
    op.create_table(
        "console_links",
        sa.Column("token_key", sa.String(64), primary_key=True),
        _person(),
        sa.Column("expires_at", UTC_TIME, nullable=False),
        sa.Column("used_at", UTC_TIME, nullable=True),
        sa.Column("created_at", UTC_TIME, nullable=False),
    )
    op.create_table(
        "console_sessions",
        sa.Column("session_key", sa.String(64), primary_key=True),
        _person(),
        sa.Column("csrf", sa.String(64), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("last_seen_at", UTC_TIME, nullable=False),
        sa.Column("ended_at", UTC_TIME, nullable=True),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("at", UTC_TIME, nullable=False, index=True),
        _person(action="SET NULL"),
        sa.Column(
            "municipality_id",
            sa.Integer(),
            sa.ForeignKey("municipalities.id", ondelete="SET NULL"),
            nullable=True,
            index=True,
        ),
        sa.Column("via", sa.String(16), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("subject", sa.String(64), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("audit_log")
    op.drop_table("console_sessions")
    op.drop_table("console_links")
    op.drop_table("appeals")
    with op.batch_alter_table("wishes") as batch:
        batch.drop_index("ix_wishes_assigned_to")
        batch.drop_constraint("fk_wishes_assigned_to", type_="foreignkey")
        batch.drop_column("assigned_to")
