"""accounting tables leave room on each page (PostgreSQL fillfactor 70)

Why: every Interim-Update rewrites its data session, hourly usage bucket and billing period rows, and only the
byte and packet counters change, none of them indexed. With free space on the page PostgreSQL updates such a row
in place (a heap-only tuple) and touches no index; on full pages each update also writes a new entry in every
index of the table (bench/RESULTS.md, RADIUS). Pages written before this migration keep their layout until they
are rewritten. SQLite has no such setting: nothing to do there.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 05:05:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("data_sessions", "usage_buckets", "billing_periods")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} SET (fillfactor = 70)")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} RESET (fillfactor)")
