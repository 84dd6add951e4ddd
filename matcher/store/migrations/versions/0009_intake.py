"""The 相談窓口's requests: intake_requests.

A facility's request for help or report of a change of its partners (through its letter's link,
the public page the prefecture may switch on, or a reply form) in the coordinator's queue:
status (受付 → 対応中 → 完了), assignee, due date, notes, and the filing year a confirmed
partner change updated (``matcher.store.intake``).

Revision ID: 0009_intake
Revises: 0008_replies
Create Date: 2026-12-20
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_intake"
down_revision = "0008_replies"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "intake_requests",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("letter_id", sa.Integer(), nullable=True),
        sa.Column("facility_id", sa.String(length=40), nullable=True),
        sa.Column("facility_name", sa.String(length=200), nullable=False),
        sa.Column("municipality_code", sa.String(length=8), nullable=False),
        sa.Column("code5", sa.String(length=5), nullable=False),
        sa.Column("topic", sa.String(length=32), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("partner_changes", sa.JSON(), nullable=False),
        sa.Column("person", sa.String(length=100), nullable=False),
        sa.Column("contact", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("assignee", sa.String(length=100), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=True),
        sa.Column("notes", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("updated_by", sa.String(length=100), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(), nullable=True),
        sa.Column("confirmed_by", sa.String(length=100), nullable=False),
        sa.Column("filing_year", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "channel IN ('link', 'public', 'reply')", name="ck_intake_requests_channel"
        ),
        sa.CheckConstraint(
            "status IN ('received', 'in_progress', 'done')", name="ck_intake_requests_status"
        ),
        sa.ForeignKeyConstraint(["letter_id"], ["reply_letters.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["facility_id"], ["facilities.facility_id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_intake_requests_letter_id", "intake_requests", ["letter_id"])
    op.create_index("ix_intake_requests_facility_id", "intake_requests", ["facility_id"])
    op.create_index("ix_intake_requests_code5", "intake_requests", ["code5"])
    op.create_index("ix_intake_requests_status", "intake_requests", ["status"])


def downgrade() -> None:
    op.drop_table("intake_requests")
