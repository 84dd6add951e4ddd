"""The web service's users and audit trail: web_users, web_audit.

Before this revision the web created these two tables itself (``create_all``) on the store's
engine; a database made that way already has them, identical to what this revision creates, so
they are adopted as they are instead of created again.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _exists(name: str) -> bool:
    return sa.inspect(op.get_bind()).has_table(name)


def upgrade() -> None:
    if not _exists("web_users"):
        op.create_table(
            "web_users",
            sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("username", sa.String(length=100), nullable=False),
            sa.Column("display_name", sa.String(length=200), nullable=False),
            sa.Column("password_hash", sa.String(length=300), nullable=False),
            sa.Column("role", sa.String(length=16), nullable=False),
            sa.Column("scope", sa.JSON(), nullable=False),
            sa.Column("active", sa.Boolean(), nullable=False),
            sa.Column("session_epoch", sa.Integer(), nullable=False),
            sa.Column("created_at", sa.DateTime(), nullable=False),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint("username"),
        )
    if not _exists("web_audit"):
        op.create_table(
            "web_audit",
            sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("at", sa.DateTime(), nullable=False),
            sa.Column("actor", sa.String(length=100), nullable=False),
            sa.Column("action", sa.String(length=50), nullable=False),
            sa.Column("target", sa.String(length=200), nullable=False),
            sa.Column("detail", sa.JSON(), nullable=False),
            sa.PrimaryKeyConstraint("id"),
        )
        with op.batch_alter_table("web_audit", schema=None) as batch_op:
            batch_op.create_index(batch_op.f("ix_web_audit_at"), ["at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("web_audit", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_web_audit_at"))

    op.drop_table("web_audit")
    op.drop_table("web_users")
