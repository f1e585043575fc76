"""municipalities: the charter's threshold for local initiatives

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25

`civicbot municipality add|import` record it; `civicbot initiative add --kind local` uses it
when no --threshold is given.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("municipalities", sa.Column("initiative_threshold", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("municipalities") as batch:
        batch.drop_column("initiative_threshold")
