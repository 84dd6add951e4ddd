"""Held acceptances (受入可(保留中)): proposal_holds.

A run with ``round_strategy`` hold keeps an institution's 受入可 for a 義務 facility's request
打診中 until the area's next re-plan, which agrees it or releases it; this table marks such a
proposal and the run under whose strategy it was held (``matcher.store.holds``).

Revision ID: 0015_held_acceptances
Revises: 0014_filed_partner_ids
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015_held_acceptances"
down_revision = "0014_filed_partner_ids"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "proposal_holds",
        sa.Column("proposal_id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["proposal_id"], ["proposals.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("proposal_id"),
    )
    op.create_index("ix_proposal_holds_run_id", "proposal_holds", ["run_id"])


def downgrade() -> None:
    op.drop_table("proposal_holds")
