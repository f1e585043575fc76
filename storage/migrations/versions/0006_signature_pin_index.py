"""signatures: an index on (initiative, PIN hash)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25

Finding a PIN's signatures to one initiative used the initiative's index and read every
signature of it (SQLite's planner picks that one): each signature cost more than the last.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_signatures_initiative_pin", "signatures", ["initiative_id", "pin_key"])


def downgrade() -> None:
    op.drop_index("ix_signatures_initiative_pin", table_name="signatures")
