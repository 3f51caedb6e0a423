"""sims: a partial index of the Things that hold a locked address, by group

Why: issue 19 (the console's private-network pages, and /things/v1 ipPools) counts each pool's use from the
addresses its network's Things hold. Found through the group index alone, every Thing of the network was read to
keep the one in ten with a locked address (25 ms for 20,000 Things); this index holds only those, so the count
reads them alone.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 13:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WHERE = sa.text("product = 'things' AND locked_ip IS NOT NULL")


def upgrade() -> None:
    op.create_index(
        "ix_sims_things_group_locked_ip",
        "sims",
        ["things_group_sid", "locked_ip"],
        postgresql_where=WHERE,
        sqlite_where=WHERE,
    )


def downgrade() -> None:
    op.drop_index("ix_sims_things_group_locked_ip", table_name="sims")
