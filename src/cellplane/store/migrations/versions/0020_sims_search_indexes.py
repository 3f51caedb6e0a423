"""sims: (account_sid, iccid, sid) and (account_sid, unique_name, sid) for the console's prefix searches

Why: issue 19 (every console page under 100 ms p99 with 1,000,000 SIMs, the SIM list's search included). A
search by the start of an ICCID or a name, ordered by sid, made PostgreSQL walk the primary key and filter: 165-370
ms when the matches lie together far from the first sid. The search now counts its matches (up to 10,000) and
sorts their sids from one of these indexes, reading no row (an index-only scan), then the page's rows by key.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06 14:05:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_sims_account_iccid_sid", "sims", ["account_sid", "iccid", "sid"])
    op.create_index("ix_sims_account_name_sid", "sims", ["account_sid", "unique_name", "sid"])


def downgrade() -> None:
    op.drop_index("ix_sims_account_name_sid", table_name="sims")
    op.drop_index("ix_sims_account_iccid_sid", table_name="sims")
