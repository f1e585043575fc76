"""bribe reports and private deliveries

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25

Inbound deliveries now keep only a keyed hash of the update id or MessageSid, with an expiry;
the old rows hold raw ids and are dropped (they only guard against redeliveries, which
Telegram and Twilio stop within a day). Conversations lose their last-activity timestamp.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_table("inbound_deliveries")
    op.create_table(
        "inbound_deliveries",
        sa.Column("delivery_key", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reply", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("delivery_key"),
    )
    op.create_index("ix_inbound_deliveries_expires_at", "inbound_deliveries", ["expires_at"])

    with op.batch_alter_table("conversations") as batch_op:
        batch_op.drop_column("updated_at")

    op.create_table(
        "report_quotas",
        sa.Column("quota_key", sa.String(length=64), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("quota_key"),
    )
    op.create_index("ix_report_quotas_expires_at", "report_quotas", ["expires_at"])

    op.create_table(
        "bribe_reports",
        sa.Column("id", sa.String(length=16), nullable=False),
        sa.Column("reference", sa.String(length=16), nullable=False),
        sa.Column("service", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=12), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=True),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("municipality_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("created_on", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(["municipality_id"], ["municipalities.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("reference"),
    )
    op.create_index("ix_bribe_reports_month", "bribe_reports", ["month"])
    op.create_index("ix_bribe_reports_municipality_id", "bribe_reports", ["municipality_id"])


def downgrade() -> None:
    op.drop_table("bribe_reports")
    op.drop_table("report_quotas")
    with op.batch_alter_table("conversations") as batch_op:
        batch_op.add_column(
            sa.Column(
                "updated_at",
                sa.DateTime(timezone=True),
                nullable=False,
                server_default=sa.func.current_timestamp(),
            )
        )
    op.drop_table("inbound_deliveries")
    op.create_table(
        "inbound_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("delivery_id", sa.String(length=64), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reply", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("channel", "delivery_id"),
    )
    op.create_index("ix_inbound_deliveries_received_at", "inbound_deliveries", ["received_at"])
