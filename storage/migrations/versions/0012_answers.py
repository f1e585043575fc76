"""wishes answered by staff: the answers kept, the wish's status, duplicates, hiding, and
the resident's follow-up

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("wishes", sa.Column("answer", sa.Text(), nullable=True))
    op.add_column("wishes", sa.Column("status_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        "wishes", sa.Column("hidden", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    # No foreign key, as for campaign_id: SQLite would have to rebuild the table.
    op.add_column("wishes", sa.Column("duplicate_of", sa.Integer(), nullable=True))
    op.add_column("wishes", sa.Column("version", sa.Integer(), nullable=False, server_default="0"))
    op.add_column("wishes", sa.Column("followup_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("wishes", sa.Column("followup", sa.String(8), nullable=True))
    op.create_index("ix_wishes_status_at", "wishes", ["status_at"])
    op.create_table(
        "wish_answers",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "wish_id",
            sa.Integer(),
            sa.ForeignKey("wishes.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column(
            "staff_id", sa.Integer(), sa.ForeignKey("people.id", ondelete="SET NULL"), nullable=True
        ),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, index=True),
    )


def downgrade() -> None:
    op.drop_table("wish_answers")
    op.drop_index("ix_wishes_status_at", "wishes")
    with op.batch_alter_table("wishes") as batch:
        for column in (
            "followup",
            "followup_at",
            "version",
            "duplicate_of",
            "hidden",
            "status_at",
            "answer",
        ):
            batch.drop_column(column)
