"""places: districts between regions and municipalities, and the state classifier's (СОАТЕ)
code of each unit; existing keys and short codes are untouched

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | Sequence[str] | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _without_cascades() -> None:
    """SQLite rebuilds `municipalities` (batch mode): dropping the old table must not cascade
    into the tables that point at it. The migrations' own connection has foreign keys off."""
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        assert bind.exec_driver_sql("PRAGMA foreign_keys").scalar() == 0


def upgrade() -> None:
    op.create_table(
        "districts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("key", sa.String(64), nullable=False, unique=True),
        sa.Column(
            "region_id", sa.Integer(), sa.ForeignKey("regions.id"), nullable=False, index=True
        ),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("soate", sa.String(14), nullable=True),
        sa.Column("name_ky", sa.String(200), nullable=False),
        sa.Column("name_ru", sa.String(200), nullable=False),
        sa.Column("name_en", sa.String(200), nullable=False),
    )
    with op.batch_alter_table("regions") as batch:
        batch.add_column(sa.Column("soate", sa.String(14), nullable=True))
    _without_cascades()
    with op.batch_alter_table("municipalities") as batch:
        batch.add_column(sa.Column("district_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("soate", sa.String(14), nullable=True))
        batch.create_foreign_key(
            "fk_municipalities_district_id", "districts", ["district_id"], ["id"]
        )
        batch.create_index("ix_municipalities_district_id", ["district_id"])


def downgrade() -> None:
    _without_cascades()
    with op.batch_alter_table("municipalities") as batch:
        batch.drop_index("ix_municipalities_district_id")
        batch.drop_constraint("fk_municipalities_district_id", type_="foreignkey")
        batch.drop_column("soate")
        batch.drop_column("district_id")
    with op.batch_alter_table("regions") as batch:
        batch.drop_column("soate")
    op.drop_table("districts")
