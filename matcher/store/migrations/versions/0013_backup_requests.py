"""Conditional backup requests (条件付き依頼): proposal_backups.

A run with ``round_strategy`` backups asks a second institution for a pair whose coverage hangs
on one scarce pair; each such proposal names the request it backs, the run that made it and
whether its institution said 受入可 while that request was still open
(``matcher.store.round_strategy``, ``matcher.store.backups``).

Revision ID: 0013_backup_requests
Revises: 0012_public_rate
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013_backup_requests"
down_revision = "0012_public_rate"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "proposal_backups",
        sa.Column("backup_id", sa.Integer(), nullable=False),
        sa.Column("primary_id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("accepted", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["backup_id"], ["proposals.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["primary_id"], ["proposals.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("backup_id"),
    )
    op.create_index("ix_proposal_backups_primary_id", "proposal_backups", ["primary_id"])
    op.create_index("ix_proposal_backups_run_id", "proposal_backups", ["run_id"])


def downgrade() -> None:
    op.drop_table("proposal_backups")
