"""fencing: a claim number on every job, and a lease row per periodic singleton task

Why: issue 21. A runner whose lease lapsed (paused, partitioned) used to finish its job by id alone and could
overwrite what a newer claim wrote. Every claim now takes `jobs.claim_epoch + 1`, and every write of the runner
names the epoch it holds: a stale one changes nothing. Periodic tasks that must run on one node at a time (the
retention purge) take a row of `singleton_leases` with a conditional UPDATE that raises its epoch, and fence each
of their transactions with it.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 12:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from cellplane.store.models.base import UtcDateTime

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("claim_epoch", sa.Integer(), nullable=False, server_default="0"))
    op.create_table(
        "singleton_leases",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("holder", sa.String(length=128), nullable=True),
        sa.Column("lease_until", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_singleton_leases")),
    )


def downgrade() -> None:
    op.drop_table("singleton_leases")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("claim_epoch")
