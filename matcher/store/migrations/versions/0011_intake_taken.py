"""Requests a coordinator takes by telephone, in person or by mail (相談窓口).

``intake_requests.channel`` also admits ``phone`` (電話), ``visit`` (来所) and ``mail``
(メール); ``taken_by`` (who took it) and ``taken_at`` (when) record such a request's arrival,
which may come before it is entered (``created_at``). Rows of the other channels keep
``taken_by`` empty and ``taken_at`` null: nothing to move.

SQLite: batch mode (the table is copied: no other table refers to it).

Revision ID: 0011_intake_taken
Revises: 0010_area_kinds
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_intake_taken"
down_revision = "0010_area_kinds"
branch_labels = None
depends_on = None

NAME = "ck_intake_requests_channel"
OLD = "channel IN ('link', 'public', 'reply')"
NEW = "channel IN ('link', 'public', 'reply', 'phone', 'visit', 'mail')"


def upgrade() -> None:
    with op.batch_alter_table("intake_requests", recreate="auto") as batch:
        batch.drop_constraint(NAME, type_="check")
        batch.create_check_constraint(NAME, sa.text(NEW))
        batch.add_column(
            sa.Column("taken_by", sa.String(length=100), nullable=False, server_default="")
        )
        batch.add_column(sa.Column("taken_at", sa.DateTime(), nullable=True))
    with op.batch_alter_table("intake_requests") as batch:
        batch.alter_column("taken_by", server_default=None)


def downgrade() -> None:
    op.execute("DELETE FROM intake_requests WHERE channel IN ('phone', 'visit', 'mail')")
    with op.batch_alter_table("intake_requests", recreate="auto") as batch:
        batch.drop_column("taken_at")
        batch.drop_column("taken_by")
        batch.drop_constraint(NAME, type_="check")
        batch.create_check_constraint(NAME, sa.text(OLD))
