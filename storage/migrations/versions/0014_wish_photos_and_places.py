"""wishes: photos (files kept outside the database, by content address), the problem's place,
and staff's approval of both for public outputs

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("wishes") as batch:
        batch.add_column(sa.Column("latitude", sa.Float(), nullable=True))
        batch.add_column(sa.Column("longitude", sa.Float(), nullable=True))
        batch.add_column(
            sa.Column("media_public", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.create_table(
        "wish_photos",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "wish_id",
            sa.Integer(),
            sa.ForeignKey("wishes.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("key", sa.String(80), nullable=False, index=True),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("wish_id", "key"),
    )


def downgrade() -> None:
    op.drop_table("wish_photos")
    with op.batch_alter_table("wishes") as batch:
        batch.drop_column("media_public")
        batch.drop_column("longitude")
        batch.drop_column("latitude")
