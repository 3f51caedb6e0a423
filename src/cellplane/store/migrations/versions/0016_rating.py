"""rating: price plans, Things' state history, stored billing-report downloads

Why: issue 18. The monthly fee depends on a Thing's states over the cycle (ACTIVE at some moment pays; SUSPENDED
the whole cycle does not), and nothing recorded when a status changed: `things_state_changes` is written in the
transaction that completes each change. Things that exist before this migration get one row with their current
status at their last update, the best that is known of them.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 10:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "things_price_plans",
        sa.Column("account_sid", sa.String(34), sa.ForeignKey("accounts.sid"), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("monthly_fee", sa.String(32), nullable=False),
        sa.Column("per_mb", sa.String(32), nullable=False),
        sa.Column("per_sms", sa.String(32), nullable=False),
        sa.Column("date_created", sa.DateTime(), nullable=False),
        sa.Column("date_updated", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("account_sid", name="pk_things_price_plans"),
    )
    op.create_table(
        "things_state_changes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("account_sid", sa.String(34), nullable=True),
        sa.Column("sim_sid", sa.String(34), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_things_state_changes"),
    )
    op.create_index("ix_things_state_changes_sim_at", "things_state_changes", ["sim_sid", "at"])
    op.create_index("ix_things_state_changes_account_sid", "things_state_changes", ["account_sid"])
    op.create_table(
        "things_report_downloads",
        sa.Column("sid", sa.String(34), nullable=False),
        sa.Column("account_sid", sa.String(34), nullable=False),
        sa.Column("media_type", sa.String(32), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("date_created", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("sid", name="pk_things_report_downloads"),
    )
    op.create_index("ix_things_report_downloads_account_sid", "things_report_downloads", ["account_sid"])
    op.execute(
        "INSERT INTO things_state_changes (account_sid, sim_sid, status, at) "
        "SELECT account_sid, sid, CASE WHEN status = 'scheduled' THEN COALESCE(pending_status, 'new') ELSE status END, "
        "date_updated FROM sims WHERE product = 'things' AND status <> 'new'"
    )


def downgrade() -> None:
    op.drop_index("ix_things_report_downloads_account_sid", table_name="things_report_downloads")
    op.drop_table("things_report_downloads")
    op.drop_index("ix_things_state_changes_account_sid", table_name="things_state_changes")
    op.drop_index("ix_things_state_changes_sim_at", table_name="things_state_changes")
    op.drop_table("things_state_changes")
    op.drop_table("things_price_plans")
