"""initiatives, signatures, invites and notices

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25

Citizens' initiatives and their sealed signatures, single-use invites (initiators first;
officials use them too), and notices: messages to a person that are not answers.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COUNTED = sa.text("status = 'counted'")


def upgrade() -> None:
    op.create_table(
        "initiatives",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("title_ky", sa.String(length=300), nullable=True),
        sa.Column("title_ru", sa.String(length=300), nullable=True),
        sa.Column("title_en", sa.String(length=300), nullable=True),
        sa.Column("summary_ky", sa.Text(), nullable=True),
        sa.Column("summary_ru", sa.Text(), nullable=True),
        sa.Column("summary_en", sa.Text(), nullable=True),
        sa.Column("url", sa.String(length=500), nullable=True),
        sa.Column("registration", sa.String(length=64), nullable=True),
        sa.Column("published_on", sa.Date(), nullable=False),
        sa.Column("opens_on", sa.Date(), nullable=False),
        sa.Column("closes_on", sa.Date(), nullable=False),
        sa.Column("threshold", sa.Integer(), nullable=False),
        sa.Column("municipality_id", sa.Integer(), nullable=True),
        sa.Column("requires_address", sa.Boolean(), nullable=False),
        sa.Column("closed_on", sa.Date(), nullable=True),
        sa.Column("signed", sa.Integer(), nullable=False),
        sa.Column("milestone", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["municipality_id"], ["municipalities.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
    )
    op.create_index("ix_initiatives_municipality_id", "initiatives", ["municipality_id"])

    op.create_table(
        "signatures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("initiative_id", sa.Integer(), nullable=False),
        sa.Column("pin_key", sa.String(length=64), nullable=True),
        sa.Column("signer_key", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("sealed", sa.Text(), nullable=True),
        sa.Column("pin_note", sa.String(length=16), nullable=True),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("signed_on", sa.Date(), nullable=False),
        sa.Column("withdrawn_on", sa.Date(), nullable=True),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["initiative_id"], ["initiatives.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_signatures_initiative_id", "signatures", ["initiative_id"])
    op.create_index("ix_signatures_pin_key", "signatures", ["pin_key"])
    op.create_index("ix_signatures_person_id", "signatures", ["person_id"])
    op.create_index(
        "ux_signatures_counted_pin",
        "signatures",
        ["initiative_id", "pin_key"],
        unique=True,
        sqlite_where=COUNTED,
        postgresql_where=COUNTED,
    )

    with op.batch_alter_table("roles") as batch_op:
        batch_op.add_column(sa.Column("initiative_id", sa.Integer(), nullable=True))
        batch_op.create_index("ix_roles_initiative_id", ["initiative_id"])
        batch_op.create_foreign_key(
            "fk_roles_initiative_id_initiatives",
            "initiatives",
            ["initiative_id"],
            ["id"],
            ondelete="CASCADE",
        )

    op.create_table(
        "invites",
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("municipality_id", sa.Integer(), nullable=True),
        sa.Column("initiative_id", sa.Integer(), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("redeemed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["initiative_id"], ["initiatives.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["municipality_id"], ["municipalities.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("code"),
    )

    op.create_table(
        "notices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("values", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_notices_sent_at", "notices", ["sent_at"])


def downgrade() -> None:
    op.drop_table("notices")
    op.drop_table("invites")
    with op.batch_alter_table("roles") as batch_op:
        batch_op.drop_constraint("fk_roles_initiative_id_initiatives", type_="foreignkey")
        batch_op.drop_index("ix_roles_initiative_id")
        batch_op.drop_column("initiative_id")
    op.drop_table("signatures")
    op.drop_table("initiatives")
