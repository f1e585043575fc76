"""campaigns: youth groups' street campaigns, and who came through one

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25

wishes.campaign_id was added empty with the wishes; it now points at a campaign (no foreign
key: a campaign is never deleted while its wishes are kept).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "campaigns",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("code", sa.String(32), nullable=False, unique=True),
        sa.Column(
            "municipality_id",
            sa.Integer(),
            sa.ForeignKey("municipalities.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("closed_on", sa.Date(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_campaigns_municipality_id", "campaigns", ["municipality_id"])
    op.create_index("ix_wishes_campaign_id", "wishes", ["campaign_id"])
    with op.batch_alter_table("people") as batch:
        batch.add_column(sa.Column("campaign_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_people_campaign_id", "campaigns", ["campaign_id"], ["id"], ondelete="SET NULL"
        )


def downgrade() -> None:
    with op.batch_alter_table("people") as batch:
        batch.drop_constraint("fk_people_campaign_id", type_="foreignkey")
        batch.drop_column("campaign_id")
    op.drop_index("ix_wishes_campaign_id", table_name="wishes")
    op.drop_index("ix_campaigns_municipality_id", table_name="campaigns")
    op.drop_table("campaigns")
