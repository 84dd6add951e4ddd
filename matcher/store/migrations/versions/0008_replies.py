"""Answers that come back: reply_letters, reply_tokens, reply_answers, reply_items.

A letter of a run to one institution or facility keeps the rows it asked; its one-time links are
stored as SHA-256 only; each answer (link, Excel, typed by a coordinator) and what became of each
of its parts (applied, held for the coordinator, unchanged, duplicate, rejected) are kept for the
audit and to apply nothing twice (``matcher.store.replies``).

Revision ID: 0008_replies
Revises: 0007_ledger
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_replies"
down_revision = "0007_ledger"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reply_letters",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("recipient_kind", sa.String(length=16), nullable=False),
        sa.Column("recipient_id", sa.String(length=40), nullable=False),
        sa.Column("rows", sa.JSON(), nullable=False),
        sa.Column("deadline", sa.Date(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("locked_at", sa.DateTime(), nullable=True),
        sa.Column("locked_by", sa.String(length=100), nullable=False),
        sa.CheckConstraint(
            "recipient_kind IN ('institution', 'facility')", name="ck_reply_letters_kind"
        ),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("run_id", "recipient_kind", "recipient_id", name="uq_reply_letters"),
    )
    op.create_index("ix_reply_letters_run_id", "reply_letters", ["run_id"])
    op.create_table(
        "reply_tokens",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("letter_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("issued_at", sa.DateTime(), nullable=False),
        sa.Column("issued_by", sa.String(length=100), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.Column("revoked_by", sa.String(length=100), nullable=False),
        sa.Column("revoked_reason", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(["letter_id"], ["reply_letters.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index("ix_reply_tokens_letter_id", "reply_tokens", ["letter_id"])
    op.create_table(
        "reply_answers",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("letter_id", sa.Integer(), nullable=True),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("content", sa.JSON(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("file_name", sa.String(length=300), nullable=False),
        sa.Column("file_hash", sa.String(length=64), nullable=False),
        sa.Column("batch", sa.String(length=32), nullable=False),
        sa.CheckConstraint(
            "channel IN ('link', 'excel', 'coordinator')", name="ck_reply_answers_channel"
        ),
        sa.ForeignKeyConstraint(["letter_id"], ["reply_letters.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_reply_answers_letter_id", "reply_answers", ["letter_id"])
    op.create_index("ix_reply_answers_file_hash", "reply_answers", ["file_hash"])
    op.create_index("ix_reply_answers_batch", "reply_answers", ["batch"])
    op.create_table(
        "reply_items",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("answer_id", sa.Integer(), nullable=False),
        sa.Column("letter_id", sa.Integer(), nullable=True),
        sa.Column("item", sa.String(length=16), nullable=False),
        sa.Column("proposal_id", sa.Integer(), nullable=True),
        sa.Column("answer", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("item_hash", sa.String(length=64), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("versions", sa.JSON(), nullable=False),
        sa.Column("version_after", sa.Integer(), nullable=True),
        sa.Column("resolved_at", sa.DateTime(), nullable=True),
        sa.Column("resolved_by", sa.String(length=100), nullable=False),
        sa.Column("resolution", sa.String(length=16), nullable=False),
        sa.CheckConstraint(
            "outcome IN ('applied', 'held', 'unchanged', 'duplicate', 'rejected')",
            name="ck_reply_items_outcome",
        ),
        sa.ForeignKeyConstraint(["answer_id"], ["reply_answers.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["letter_id"], ["reply_letters.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["proposal_id"], ["proposals.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_reply_items_answer_id", "reply_items", ["answer_id"])
    op.create_index("ix_reply_items_letter_id", "reply_items", ["letter_id"])
    op.create_index("ix_reply_items_proposal_id", "reply_items", ["proposal_id"])
    op.create_index("ix_reply_items_item_hash", "reply_items", ["item_hash"])


def downgrade() -> None:
    op.drop_table("reply_items")
    op.drop_table("reply_answers")
    op.drop_table("reply_tokens")
    op.drop_table("reply_letters")
