"""Area kinds 構想区域 (``kousou``) and 郡市医師会 (``ishikai``) of their own.

Before, ``ck_areas_kind`` admitted only ``prefecture``, ``municipality`` and ``renkei``, so the
reference areas were stored as ``renkei`` and their kind read from their code. This widens the
constraint and moves the rows that are recognisably reference areas to their kind: those stored
as ``renkei`` whose code starts ``kousou-`` or ``ishikai-`` — the codes ``kyoryoku areas
import`` gives them (``reference_areas.ReferenceArea.key``), which every list and area page
already read as that kind (``area_tables.area_kind``), so nothing shown changes. Downgrade moves
them back to ``renkei`` and narrows the constraint again.

SQLite: the table is not rebuilt (batch mode's copy, drop and rename): with foreign keys on,
dropping ``areas`` deletes every ``area_municipalities`` row (ON DELETE CASCADE) and is refused
while a run refers to the area (RESTRICT), and the pragma cannot be switched off inside the
migration's transaction. A wider check constraint changes nothing on disk, so the table's
definition is rewritten in place instead — SQLite's documented procedure for constraint changes
that leave the stored rows valid ("Making Other Kinds Of Table Schema Changes", lang_altertable),
inside the migration's transaction. PostgreSQL drops and re-creates the constraint.

Revision ID: 0010_area_kinds
Revises: 0009_intake
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0010_area_kinds"
down_revision = "0009_intake"
branch_labels = None
depends_on = None

NAME = "ck_areas_kind"
OLD = "kind IN ('prefecture', 'municipality', 'renkei')"
NEW = "kind IN ('prefecture', 'municipality', 'renkei', 'kousou', 'ishikai')"
REFERENCE_KINDS = ("kousou", "ishikai")


def replace_check(table: str, name: str, old: str, new: str) -> None:
    """Replace the check constraint ``name`` of ``table`` (``old`` → ``new``; the rows must
    satisfy ``new``)."""
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        op.drop_constraint(name, table, type_="check")
        op.create_check_constraint(name, table, new)
        return
    sql: str = bind.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
    ).scalar_one()
    if sql.count(old) != 1:
        raise RuntimeError(f"{table}: check constraint {name} is not «{old}» ({sql})")
    version: int = bind.exec_driver_sql("PRAGMA schema_version").scalar_one()
    bind.exec_driver_sql("PRAGMA writable_schema = ON")
    try:
        bind.exec_driver_sql(
            "UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = ?",
            (sql.replace(old, new), table),
        )
        bind.exec_driver_sql(f"PRAGMA schema_version = {int(version) + 1}")
    finally:
        bind.exec_driver_sql("PRAGMA writable_schema = OFF")
    problems: list[str] = list(bind.exec_driver_sql(f"PRAGMA integrity_check({table})").scalars())
    if problems != ["ok"]:
        raise RuntimeError(f"{table}: integrity check after the new constraint: {problems}")


def upgrade() -> None:
    replace_check("areas", NAME, OLD, NEW)
    for kind in REFERENCE_KINDS:  # the code starts with the kind (case-sensitive, as the key)
        prefix = f"{kind}-"
        op.execute(
            f"UPDATE areas SET kind = '{kind}' WHERE kind = 'renkei'"
            f" AND substr(code, 1, {len(prefix)}) = '{prefix}'"
        )


def downgrade() -> None:
    op.execute(f"UPDATE areas SET kind = 'renkei' WHERE kind IN {REFERENCE_KINDS!r}")
    replace_check("areas", NAME, NEW, OLD)
