"""signatures: two indexes fewer

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07

`ix_signatures_initiative_pin` (initiative, PIN hash) answers everything the index on the
initiative alone and the one on the PIN hash alone were there for: every query that names a
PIN hash names its initiative too (a PIN's hash is per initiative). Each signature wrote both
anyway, the PIN hash's at a random page of a growing index.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0020"
down_revision: str | Sequence[str] | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_signatures_pin_key", table_name="signatures")
    op.drop_index("ix_signatures_initiative_id", table_name="signatures")


def downgrade() -> None:
    op.create_index("ix_signatures_initiative_id", "signatures", ["initiative_id"])
    op.create_index("ix_signatures_pin_key", "signatures", ["pin_key"])
