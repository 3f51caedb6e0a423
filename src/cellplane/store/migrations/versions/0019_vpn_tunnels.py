"""vpn tunnels: a Network's IPsec tunnels to the customer's site

Why: issue 20. A tunnel is what the customer asked for (peer, pre-shared key, proposals, traffic selectors) and what
charon last said of it (state, bytes, when it came up, the last error), so that the API answers without asking charon
and a restarted platform loads the same tunnels again. Routes may name a tunnel as their target (no column change:
`things_routes.target` holds a tunnel's sid).

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06 13:05:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "things_vpn_tunnels"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("sid", sa.String(34), nullable=False),
        sa.Column("account_sid", sa.String(34), nullable=False),
        sa.Column("network_sid", sa.String(34), nullable=False),
        sa.Column("peer_address", sa.String(15), nullable=False),
        sa.Column("pre_shared_key", sa.String(256), nullable=False),
        sa.Column("ike_proposal", sa.String(512), nullable=False),
        sa.Column("esp_proposal", sa.String(512), nullable=False),
        sa.Column("local_cidrs", sa.JSON(), nullable=False),
        sa.Column("remote_cidrs", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("bytes_in", sa.BigInteger(), nullable=False),
        sa.Column("bytes_out", sa.BigInteger(), nullable=False),
        sa.Column("established_at", sa.DateTime(), nullable=True),
        sa.Column("last_error", sa.String(256), nullable=True),
        sa.Column("date_created", sa.DateTime(), nullable=False),
        sa.Column("date_updated", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["network_sid"],
            ["things_networks.sid"],
            name=f"fk_{TABLE}_network_sid_things_networks",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("sid", name=f"pk_{TABLE}"),
    )
    op.create_index(f"ix_{TABLE}_account_sid", TABLE, ["account_sid"])
    op.create_index(f"ix_{TABLE}_network_sid", TABLE, ["network_sid"])


def downgrade() -> None:
    op.drop_table(TABLE)
