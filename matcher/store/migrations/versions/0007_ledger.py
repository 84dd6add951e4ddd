"""The capacity ledger counts live proposals: the change log follows proposed ones too.

An institution's declared capacity is used by its proposed, contacted and agreed partnerships
(``matcher.store.state.capacity_use``). The proposals' change-log triggers of revision 0006 logged
``institution:<id>`` only when a change crossed (contacted, agreed); a cached page showing that
institution's remaining capacity must now also follow proposals made and withdrawn. The triggers
are recreated with the ledger's statuses (0006's logic otherwise unchanged).

Revision ID: 0007_ledger
Revises: 0006_change_log
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0007_ledger"
down_revision = "0006_change_log"
branch_labels = None
depends_on = None

KEEP = 20_000
_LEDGER = "('proposed', 'contacted', 'agreed')"
_BEFORE = "('contacted', 'agreed')"
_SQLITE_OPS = {"INSERT": ("NEW",), "UPDATE": ("NEW", "OLD"), "DELETE": ("OLD",)}


def _log_triggers(uses_statuses: str) -> None:
    """(Re)create the proposals' change-log triggers: ``institution:<id>`` is logged when a
    change moves a proposal in or out of ``uses_statuses``."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS tr_change_log_proposals ON proposals")
        op.execute("DROP FUNCTION IF EXISTS kyoryoku_log_proposal()")
        op.execute(
            "CREATE FUNCTION kyoryoku_log_proposal() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "DECLARE new_uses boolean := false; old_uses boolean := false; "
            "BEGIN "
            "UPDATE store_changes SET version = version + 1 WHERE topic = 'proposals'; "
            "IF TG_OP <> 'DELETE' THEN "
            f"new_uses := NEW.status IN {uses_statuses}; "
            "INSERT INTO store_change_log (topic, key) "
            "VALUES ('proposals', 'facility:' || NEW.facility_id); END IF; "
            "IF TG_OP <> 'INSERT' THEN "
            f"old_uses := OLD.status IN {uses_statuses}; "
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
    for verb in _SQLITE_OPS:
        op.execute(f"DROP TRIGGER IF EXISTS tr_change_log_proposals_{verb.lower()}")
    for verb, rows in _SQLITE_OPS.items():
        body = []
        for r in rows:
            body.append(
                "INSERT INTO store_change_log (topic, key) "
                f"VALUES ('proposals', 'facility:' || {r}.facility_id);"
            )
            uses = f"{r}.status IN {uses_statuses}"
            if verb == "UPDATE":
                uses += (
                    f" AND ((NEW.status IN {uses_statuses}) <> (OLD.status IN {uses_statuses})"
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


def upgrade() -> None:
    _log_triggers(_LEDGER)


def downgrade() -> None:
    _log_triggers(_BEFORE)
