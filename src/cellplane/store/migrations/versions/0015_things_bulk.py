"""tags on Things, bulk actions and their items, IMEI changes and lock, the account's events URL

Why: issue 18 (THINGS.md). Tags are rows (thing, tag) so `?tag=` and the counts use an index; a bulk action
freezes its selection into items whose outcome is written in the same transaction as the item's change, which is
what lets a restarted job resume with nothing done twice.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 10:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("accounts") as batch_op:
        batch_op.add_column(sa.Column("events_callback_url", sa.String(1024), nullable=True))
        batch_op.add_column(sa.Column("events_callback_method", sa.String(8), nullable=True))
    with op.batch_alter_table("sims") as batch_op:
        batch_op.add_column(sa.Column("imei_lock", sa.String(16), nullable=True))
        batch_op.add_column(sa.Column("last_imei", sa.String(16), nullable=True))
    op.create_table(
        "things_tags",
        sa.Column("thing_sid", sa.String(34), nullable=False),
        sa.Column("tag", sa.String(64), nullable=False),
        sa.Column("account_sid", sa.String(34), nullable=False),
        sa.ForeignKeyConstraint(["thing_sid"], ["sims.sid"], name="fk_things_tags_thing_sid_sims", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("thing_sid", "tag", name="pk_things_tags"),
    )
    op.create_index("ix_things_tags_account_sid_tag", "things_tags", ["account_sid", "tag"])
    op.create_table(
        "things_bulk_actions",
        sa.Column("sid", sa.String(34), nullable=False),
        sa.Column("account_sid", sa.String(34), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.Column("selection", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("succeeded", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("completed_at", sa.DateTime(), nullable=True),
        sa.Column("date_created", sa.DateTime(), nullable=False),
        sa.Column("date_updated", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["account_sid"], ["accounts.sid"], name="fk_things_bulk_actions_account_sid_accounts"),
        sa.PrimaryKeyConstraint("sid", name="pk_things_bulk_actions"),
    )
    op.create_index("ix_things_bulk_actions_account_sid", "things_bulk_actions", ["account_sid"])
    op.create_table(
        "things_bulk_items",
        sa.Column("bulk_sid", sa.String(34), nullable=False),
        sa.Column("position", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("thing_sid", sa.String(34), nullable=False),
        sa.Column("outcome", sa.String(10), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("date_updated", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["bulk_sid"],
            ["things_bulk_actions.sid"],
            name="fk_things_bulk_items_bulk_sid_things_bulk_actions",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("bulk_sid", "position", name="pk_things_bulk_items"),
    )
    op.create_index("ix_things_bulk_items_pending", "things_bulk_items", ["bulk_sid", "outcome", "position"])
    op.create_table(
        "things_imei_changes",
        sa.Column("sid", sa.String(34), nullable=False),
        sa.Column("account_sid", sa.String(34), nullable=False),
        sa.Column("thing_sid", sa.String(34), nullable=False),
        sa.Column("previous_imei", sa.String(16), nullable=True),
        sa.Column("imei", sa.String(16), nullable=False),
        sa.Column("network", sa.String(8), nullable=True),
        sa.Column("rejected", sa.Boolean(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("sid", name="pk_things_imei_changes"),
    )
    op.create_index("ix_things_imei_changes_account_sid", "things_imei_changes", ["account_sid"])
    op.create_index("ix_things_imei_changes_thing", "things_imei_changes", ["thing_sid", "sid"])


def downgrade() -> None:
    op.drop_table("things_imei_changes")
    op.drop_table("things_bulk_items")
    op.drop_table("things_bulk_actions")
    op.drop_table("things_tags")
    with op.batch_alter_table("sims") as batch_op:
        batch_op.drop_column("last_imei")
        batch_op.drop_column("imei_lock")
    with op.batch_alter_table("accounts") as batch_op:
        batch_op.drop_column("events_callback_method")
        batch_op.drop_column("events_callback_url")
