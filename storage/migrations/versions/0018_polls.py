"""polls, priority votes and budget rounds; villages and population figures; what a resident
chose to say about themselves at the end of a poll

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | Sequence[str] | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_TIME = sa.DateTime(timezone=True)


def _municipality() -> sa.Column[int]:
    return sa.Column(
        "municipality_id",
        sa.Integer(),
        sa.ForeignKey("municipalities.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    )


def _poll() -> sa.Column[int]:
    return sa.Column(
        "poll_id", sa.Integer(), sa.ForeignKey("polls.id", ondelete="CASCADE"), nullable=False
    )


def _person(name: str, nullable: bool = True) -> sa.Column[int]:
    action = "SET NULL" if nullable else "CASCADE"
    return sa.Column(
        name, sa.Integer(), sa.ForeignKey("people.id", ondelete=action), nullable=nullable
    )


def _in_languages(
    name: str, kind: sa.types.TypeEngine[str], ky_required: bool
) -> list[sa.Column[str]]:
    """A text in each language the bot spoke when this was written: Kyrgyz first."""
    return [
        sa.Column(f"{name}_ky", kind, nullable=not ky_required),
        sa.Column(f"{name}_ru", kind, nullable=True),
        sa.Column(f"{name}_en", kind, nullable=True),
    ]


def _without_cascades() -> None:
    """SQLite rebuilds `people` (batch mode): dropping the old table must not cascade into
    the tables that point at it. The migrations' own connection has foreign keys off."""
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        assert bind.exec_driver_sql("PRAGMA foreign_keys").scalar() == 0


def upgrade() -> None:
    with op.batch_alter_table("municipalities") as batch:
        batch.add_column(sa.Column("population", sa.Integer(), nullable=True))
    op.create_table(
        "villages",
        sa.Column("id", sa.Integer(), primary_key=True),
        _municipality(),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("population", sa.Integer(), nullable=True),
        # Every name is there, as for every place (storage.models.Named): ky where no other.
        sa.Column("name_ky", sa.String(200), nullable=False),
        sa.Column("name_ru", sa.String(200), nullable=False),
        sa.Column("name_en", sa.String(200), nullable=False),
        sa.UniqueConstraint("municipality_id", "position"),
    )
    _without_cascades()
    with op.batch_alter_table("people") as batch:
        batch.add_column(sa.Column("village_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("age_band", sa.String(8), nullable=True))
        batch.add_column(sa.Column("gender", sa.String(1), nullable=True))
        batch.create_foreign_key(
            "fk_people_village_id", "villages", ["village_id"], ["id"], ondelete="SET NULL"
        )
    op.create_table(
        "polls",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("code", sa.String(16), nullable=False, unique=True),
        _municipality(),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("max_choices", sa.Integer(), nullable=False),
        sa.Column("budget_total", sa.Integer(), nullable=True),
        *_in_languages("question", sa.Text(), ky_required=True),
        sa.Column("villages", sa.JSON(), nullable=True),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("opens_at", UTC_TIME, nullable=False),
        sa.Column("closes_at", UTC_TIME, nullable=False),
        sa.Column("sms_cap", sa.Integer(), nullable=True),
        _person("created_by"),
        _person("approved_by"),
        sa.Column("sent_at", UTC_TIME, nullable=True),
        sa.Column("closed_at", UTC_TIME, nullable=True),
        sa.Column("results_sent_at", UTC_TIME, nullable=True),
        sa.Column("created_at", UTC_TIME, nullable=False),
    )
    op.create_table(
        "poll_options",
        sa.Column("id", sa.Integer(), primary_key=True),
        _poll(),
        sa.Column("position", sa.Integer(), nullable=False),
        *_in_languages("label", sa.String(200), ky_required=True),
        *_in_languages("description", sa.Text(), ky_required=False),
        sa.Column("cost", sa.Integer(), nullable=True),
        sa.Column("funded", sa.Boolean(), nullable=True),
        sa.Column("progress", sa.Text(), nullable=True),
        sa.UniqueConstraint("poll_id", "position"),
    )
    op.create_index("ix_poll_options_poll_id", "poll_options", ["poll_id"])
    op.create_table(
        "poll_answers",
        sa.Column("id", sa.Integer(), primary_key=True),
        _poll(),
        sa.Column("voter_key", sa.String(64), nullable=False),
        sa.Column("choices", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column(
            "village_id",
            sa.Integer(),
            sa.ForeignKey("villages.id", ondelete="SET NULL"),
            nullable=True,
            index=True,
        ),
        sa.Column("age_band", sa.String(8), nullable=True),
        sa.Column("gender", sa.String(1), nullable=True),
        sa.Column("joined_during", sa.Boolean(), nullable=False),
        _person("entered_by"),
        sa.Column("answered_on", sa.Date(), nullable=False),
        sa.UniqueConstraint("poll_id", "voter_key"),
    )
    op.create_index("ix_poll_answers_poll_id", "poll_answers", ["poll_id"])
    op.create_table(
        "poll_sends",
        sa.Column("id", sa.Integer(), primary_key=True),
        _poll(),
        _person("person_id", nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("claimed_at", UTC_TIME, nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("sent_at", UTC_TIME, nullable=True),
        sa.Column("note", sa.String(32), nullable=True),
        sa.UniqueConstraint("poll_id", "person_id"),
    )
    op.create_index("ix_poll_sends_person_id", "poll_sends", ["person_id"])
    op.create_index("ix_poll_sends_due", "poll_sends", ["status", "channel", "id"])


def downgrade() -> None:
    op.drop_table("poll_sends")
    op.drop_table("poll_answers")
    op.drop_table("poll_options")
    op.drop_table("polls")
    _without_cascades()
    with op.batch_alter_table("people") as batch:
        batch.drop_constraint("fk_people_village_id", type_="foreignkey")
        batch.drop_column("gender")
        batch.drop_column("age_band")
        batch.drop_column("village_id")
    op.drop_table("villages")
    with op.batch_alter_table("municipalities") as batch:
        batch.drop_column("population")
