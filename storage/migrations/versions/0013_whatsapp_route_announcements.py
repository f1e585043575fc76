"""outbound messages: why one went another way (WhatsApp's 24-hour window); staff's "you
said, we did" announcements, one per municipality, topic and week

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("outbound_messages", sa.Column("note", sa.String(64), nullable=True))
    op.create_table(
        "announcements",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "municipality_id",
            sa.Integer(),
            sa.ForeignKey("municipalities.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("category", sa.String(32), nullable=False),
        sa.Column("period", sa.String(10), nullable=False),  # 2026-W48
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column(
            "staff_id", sa.Integer(), sa.ForeignKey("people.id", ondelete="SET NULL"), nullable=True
        ),
        sa.Column("recipients", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("municipality_id", "category", "period"),
    )


def downgrade() -> None:
    op.drop_table("announcements")
    with op.batch_alter_table("outbound_messages") as batch:
        batch.drop_column("note")
