"""Filed partners keep the institution id as filed: filing_partners.filed_institution_id.

A partner filed under an id the store did not hold yet (facilities imported before
institutions) used to keep only a name, so importing the institution later never linked it and a
run could propose a facility's own filed partner as new. The raw id is now kept and
``matcher.store.imports.link_filed_partners`` links it when the institution arrives.

Data: a linked partner's filed id is its institution id. An unlinked partner whose name is an
institution id now in the store is one that ``import_filings`` stored by its id (the simple
format names partners by id only): it is linked as that rule would have, shown by the
institution's name. Other unlinked partners keep no filed id (it was not recorded); importing
their filing again records it. Plain ``ADD COLUMN`` keeps the change-counter triggers of
revision 0004 on SQLite.

Revision ID: 0014_filed_partner_ids
Revises: 0013_backup_requests
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014_filed_partner_ids"
down_revision = "0013_backup_requests"
branch_labels = None
depends_on = None

_INDEX = "ix_filing_partners_filed_institution_id"


def upgrade() -> None:
    op.add_column(
        "filing_partners", sa.Column("filed_institution_id", sa.String(40), nullable=True)
    )
    op.create_index(_INDEX, "filing_partners", ["filed_institution_id"])
    op.execute(
        "UPDATE filing_partners SET filed_institution_id = institution_id "
        "WHERE institution_id IS NOT NULL"
    )
    # Every SET expression reads the row as it was (both databases): the name is the filed id.
    op.execute(
        "UPDATE filing_partners SET filed_institution_id = partner_name, "
        "institution_id = partner_name, "
        "partner_name = (SELECT i.name FROM institutions i "
        "WHERE i.institution_id = filing_partners.partner_name) "
        "WHERE institution_id IS NULL "
        "AND partner_name IN (SELECT institution_id FROM institutions)"
    )


def downgrade() -> None:
    op.drop_index(_INDEX, table_name="filing_partners")
    op.drop_column("filing_partners", "filed_institution_id")
