"""第二種協定指定医療機関 (新興感染症) as filed and as declared: filing_partners and declarations
get a nullable ``infection_agreement`` (NULL = the file did not say).

Whether an institution *is* one, and whether a facility has such a partner, is computed from
these columns in ``matcher.store.state`` (never stored twice). Plain ``ADD COLUMN`` keeps the
change-counter triggers of revision 0004 on SQLite (a batch table copy would drop them).

Revision ID: 0005_infection
Revises: 0004_jobs
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_infection"
down_revision = "0004_jobs"
branch_labels = None
depends_on = None

_TABLES = ("filing_partners", "declarations")


def upgrade() -> None:
    for table in _TABLES:
        op.add_column(table, sa.Column("infection_agreement", sa.Boolean(), nullable=True))


def downgrade() -> None:
    for table in reversed(_TABLES):
        op.drop_column(table, "infection_agreement")
