"""wishes: who typed a paper card (entered_by)

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-25

A card typed by a volunteer at a campaign's stand records the volunteer, never the passer-by.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("wishes") as batch:
        batch.add_column(sa.Column("entered_by", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_wishes_entered_by", "people", ["entered_by"], ["id"], ondelete="SET NULL"
        )
    op.create_index("ix_wishes_entered_by", "wishes", ["entered_by"])


def downgrade() -> None:
    op.drop_index("ix_wishes_entered_by", table_name="wishes")
    with op.batch_alter_table("wishes") as batch:
        batch.drop_constraint("fk_wishes_entered_by", type_="foreignkey")
        batch.drop_column("entered_by")
