"""people: room for a WhatsApp user's business-scoped id (up to about 140 characters) as the
channel's user id

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _without_cascades() -> None:
    """SQLite rebuilds `people` (batch mode): dropping the old table must not cascade into
    the tables that point at it. The migrations' own connection has foreign keys off."""
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        assert bind.exec_driver_sql("PRAGMA foreign_keys").scalar() == 0


def upgrade() -> None:
    _resize(sa.String(64), sa.String(160))


def downgrade() -> None:
    _resize(sa.String(160), sa.String(64))


def _resize(existing: sa.String, new: sa.String) -> None:
    _without_cascades()
    with op.batch_alter_table("people") as batch:
        batch.alter_column(
            "channel_user_id", type_=new, existing_type=existing, existing_nullable=False
        )
