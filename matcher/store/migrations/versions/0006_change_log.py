"""Which facility and institution each proposal change touched: store_change_log.

The read caches of the web keep per-facility values (a facility's page, the facility index)
across proposal changes of other facilities: a trigger on ``proposals`` writes, for every row
inserted, updated or deleted, ``facility:<id>`` — and ``institution:<id>`` when the change
moves the proposal in or out of what uses the institution's capacity (contacted, agreed) — under
one increasing ``id``; caches read the rows after the last id they saw and refresh only what
those keys touch.
The trigger first bumps the ``proposals`` counter of ``store_changes`` (revision 0004), which
every proposal-writing transaction thus holds until it commits: log ids are handed out in commit
order, so a reader never misses a row that commits later with a smaller id. The log keeps the
last ``KEEP`` rows (older ones are deleted by the same trigger); a cache that fell further
behind recomputes everything.

Revision ID: 0006_change_log
Revises: 0005_infection
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_change_log"
down_revision = "0005_infection"
branch_labels = None
depends_on = None

KEEP = 20_000
# A proposal uses its institution's capacity while contacted or agreed: other facilities' pages
# (remaining capacity of their candidates) change only when a change crosses that line.
_USES = "('contacted', 'agreed')"
_SQLITE_OPS = {"INSERT": ("NEW",), "UPDATE": ("NEW", "OLD"), "DELETE": ("OLD",)}


def upgrade() -> None:
    op.create_table(
        "store_change_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("topic", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    if op.get_bind().dialect.name == "postgresql":
        # per row now (it was per statement): the counter's row lock comes before the log ids
        op.execute("DROP TRIGGER IF EXISTS tr_changes_proposals ON proposals")
        op.execute(
            "CREATE FUNCTION kyoryoku_log_proposal() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "DECLARE new_uses boolean := false; old_uses boolean := false; "
            "BEGIN "
            "UPDATE store_changes SET version = version + 1 WHERE topic = 'proposals'; "
            "IF TG_OP <> 'DELETE' THEN "
            f"new_uses := NEW.status IN {_USES}; "
            "INSERT INTO store_change_log (topic, key) "
            "VALUES ('proposals', 'facility:' || NEW.facility_id); END IF; "
            "IF TG_OP <> 'INSERT' THEN "
            f"old_uses := OLD.status IN {_USES}; "
            "INSERT INTO store_change_log (topic, key) "
            "VALUES ('proposals', 'facility:' || OLD.facility_id); END IF; "
            "IF TG_OP = 'UPDATE' AND new_uses = old_uses "
            "AND NEW.institution_id = OLD.institution_id THEN "
            "new_uses := false; old_uses := false; END IF; "
            "IF new_uses THEN INSERT INTO store_change_log (topic, key) "
            "VALUES ('proposals', 'institution:' || NEW.institution_id); END IF; "
            "IF old_uses THEN INSERT INTO store_change_log (topic, key) "
            "VALUES ('proposals', 'institution:' || OLD.institution_id); END IF; "
            f"DELETE FROM store_change_log WHERE id <= currval("
            f"pg_get_serial_sequence('store_change_log', 'id')) - {KEEP}; "
            "RETURN NULL; END $$"
        )
        op.execute(
            "CREATE TRIGGER tr_change_log_proposals AFTER INSERT OR UPDATE OR DELETE "
            "ON proposals FOR EACH ROW EXECUTE FUNCTION kyoryoku_log_proposal()"
        )
        return
    for verb, rows in _SQLITE_OPS.items():
        body = []
        for r in rows:
            body.append(
                "INSERT INTO store_change_log (topic, key) "
                f"VALUES ('proposals', 'facility:' || {r}.facility_id);"
            )
            uses = f"{r}.status IN {_USES}"
            if verb == "UPDATE":
                uses += (
                    f" AND ((NEW.status IN {_USES}) <> (OLD.status IN {_USES})"
                    " OR NEW.institution_id <> OLD.institution_id)"
                )
            body.append(
                "INSERT INTO store_change_log (topic, key) "
                f"SELECT 'proposals', 'institution:' || {r}.institution_id WHERE {uses};"
            )
        op.execute(
            f"CREATE TRIGGER tr_change_log_proposals_{verb.lower()} AFTER {verb} ON proposals "
            f"BEGIN {' '.join(body)} "
            "DELETE FROM store_change_log WHERE id <= (SELECT max(id) FROM store_change_log)"
            f" - {KEEP}; END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS tr_change_log_proposals ON proposals")
        op.execute("DROP FUNCTION IF EXISTS kyoryoku_log_proposal()")
        op.execute(
            "CREATE TRIGGER tr_changes_proposals AFTER INSERT OR UPDATE OR DELETE "
            "ON proposals FOR EACH STATEMENT EXECUTE FUNCTION kyoryoku_bump_change('proposals')"
        )
    else:
        for verb in _SQLITE_OPS:
            op.execute(f"DROP TRIGGER IF EXISTS tr_change_log_proposals_{verb.lower()}")
    op.drop_table("store_change_log")
