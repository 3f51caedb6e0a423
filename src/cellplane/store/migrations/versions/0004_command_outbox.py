"""command outbox: a queued IP Command row is its own work item (no job row per command)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 04:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import cellplane.store.models.base

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("ip_commands", schema=None) as batch_op:
        batch_op.add_column(sa.Column("dispatch_at", cellplane.store.models.base.UtcDateTime(), nullable=True))
        batch_op.create_index("ix_ip_commands_status_dispatch_at", ["status", "dispatch_at"], unique=False)
    # Commands still queued from before: the recovery sweep takes them over from their (now unhandled) jobs.
    op.execute("UPDATE ip_commands SET dispatch_at = date_created WHERE status = 'queued' AND direction = 'to_sim'")
    op.execute("DELETE FROM jobs WHERE kind = 'ip_command' AND status IN ('pending', 'running')")


def downgrade() -> None:
    # Queued commands lose their dispatch: give each its delivery job back.
    payload = "'{\"sid\": \"' || sid || '\"}'"
    if op.get_bind().dialect.name == "postgresql":
        payload = f"CAST({payload} AS JSON)"
    op.execute(
        "INSERT INTO jobs (kind, payload, status, run_at, attempts, max_attempts, date_created) "
        f"SELECT 'ip_command', {payload}, 'pending', date_created, 0, 8, date_created "
        "FROM ip_commands WHERE status = 'queued' AND direction = 'to_sim'"
    )
    with op.batch_alter_table("ip_commands", schema=None) as batch_op:
        batch_op.drop_index("ix_ip_commands_status_dispatch_at")
        batch_op.drop_column("dispatch_at")
