"""The public pages' rate windows, shared by every worker: public_rate_windows.

One row per (window, key): the hits still inside the window, at most its limit, and when the
last of them leaves it (``expires_at``, epoch seconds; such rows are purged). The key is stored
as its HMAC (``api.security.public``), never in clear. Before, each worker process kept its own
windows in memory, so N workers let N times the limit through.

Revision ID: 0012_public_rate
Revises: 0011_intake_taken
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_public_rate"
down_revision = "0011_intake_taken"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "public_rate_windows",
        sa.Column("window_name", sa.String(length=40), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("hits", sa.JSON(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("window_name", "key_hash"),
    )
    op.create_index("ix_public_rate_windows_expires_at", "public_rate_windows", ["expires_at"])


def downgrade() -> None:
    op.drop_table("public_rate_windows")
