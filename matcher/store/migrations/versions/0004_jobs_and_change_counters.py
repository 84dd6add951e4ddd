"""Web jobs in the store, and change counters for the read caches: jobs, store_changes.

``store_changes`` holds one counter per topic; triggers bump it on every INSERT, UPDATE or
DELETE of the topic's tables (SQLite: per row; PostgreSQL: per statement), so every writer —
web, CLI, another worker, a manual SQL session — invalidates exactly what it changed.

Revision ID: 0004_jobs
Revises: 0003_sessions
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_jobs"
down_revision = "0003_sessions"
branch_labels = None
depends_on = None

TOPICS: dict[str, tuple[str, ...]] = {
    "registry": (
        "facilities",
        "institutions",
        "filings",
        "filing_partners",
        "declarations",
        "areas",
        "area_municipalities",
    ),
    "proposals": ("proposals",),
    "runs": ("runs",),
    "users": ("web_users",),
    "sessions": ("web_sessions",),
}
_OPS = ("INSERT", "UPDATE", "DELETE")


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("area_code", sa.String(length=40), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("stage", sa.String(length=16), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("worker", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint("state IN ('running', 'done', 'failed')", name="ck_jobs_state"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_jobs_state", "jobs", ["state"])
    changes = op.create_table(
        "store_changes",
        sa.Column("topic", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("topic"),
    )
    op.bulk_insert(changes, [{"topic": t, "version": 0} for t in TOPICS])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION kyoryoku_bump_change() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN UPDATE store_changes SET version = version + 1 "
            "WHERE topic = TG_ARGV[0]; RETURN NULL; END $$"
        )
    for topic, tables in TOPICS.items():
        for table in tables:
            if op.get_bind().dialect.name == "postgresql":
                op.execute(
                    f"CREATE TRIGGER tr_changes_{table} AFTER INSERT OR UPDATE OR DELETE "
                    f"ON {table} FOR EACH STATEMENT "
                    f"EXECUTE FUNCTION kyoryoku_bump_change('{topic}')"
                )
                continue
            for verb in _OPS:
                op.execute(
                    f"CREATE TRIGGER tr_changes_{table}_{verb.lower()} AFTER {verb} ON {table} "
                    f"BEGIN UPDATE store_changes SET version = version + 1 "
                    f"WHERE topic = '{topic}'; END"
                )


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for tables in TOPICS.values():
        for table in tables:
            if postgres:
                op.execute(f"DROP TRIGGER IF EXISTS tr_changes_{table} ON {table}")
            else:
                for verb in _OPS:
                    op.execute(f"DROP TRIGGER IF EXISTS tr_changes_{table}_{verb.lower()}")
    if postgres:
        op.execute("DROP FUNCTION IF EXISTS kyoryoku_bump_change()")
    op.drop_table("store_changes")
    op.drop_index("ix_jobs_state", table_name="jobs")
    op.drop_table("jobs")
