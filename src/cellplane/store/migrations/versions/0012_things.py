"""the private-network platform: Things Groups, Networks, IP pools, routes, IP Profiles, NAT rules; Things' columns

Why: issue 17 (THINGS.md). A Thing is a `sims` row of product "things": its group, services and locked address are
new columns there (services default to true for every row, so nothing changes for the other products). Accounts that
exist before this migration get their default Things Group, Network, pool and IP Profile on first use (services
create them lazily, the same code that makes them with a new account).

Revision ID: 0012
Revises: 0005
Create Date: 2026-12-06 09:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _times() -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        sa.Column("date_created", sa.DateTime(), nullable=False),
        sa.Column("date_updated", sa.DateTime(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "things_networks",
        sa.Column("sid", sa.String(34), nullable=False),
        sa.Column("account_sid", sa.String(34), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("apn", sa.String(64), nullable=False),
        sa.Column("device_isolation", sa.Boolean(), nullable=False),
        sa.Column("public_address", sa.String(15), nullable=False),
        *_times(),
        sa.ForeignKeyConstraint(["account_sid"], ["accounts.sid"], name="fk_things_networks_account_sid_accounts"),
        sa.PrimaryKeyConstraint("sid", name="pk_things_networks"),
        sa.UniqueConstraint("public_address", name="uq_things_networks_public_address"),
    )
    op.create_index("ix_things_networks_account_sid", "things_networks", ["account_sid"])
    for table in ("things_ip_pools", "things_routes"):
        extra = (
            [sa.Column("cidr", sa.String(18), nullable=False)]
            if table == "things_ip_pools"
            else [
                sa.Column("destination", sa.String(18), nullable=False),
                sa.Column("target", sa.String(34), nullable=False),
            ]
        )
        op.create_table(
            table,
            sa.Column("sid", sa.String(34), nullable=False),
            sa.Column("account_sid", sa.String(34), nullable=False),
            sa.Column("network_sid", sa.String(34), nullable=False),
            *extra,
            *_times(),
            sa.ForeignKeyConstraint(
                ["network_sid"],
                ["things_networks.sid"],
                name=f"fk_{table}_network_sid_things_networks",
                ondelete="CASCADE",
            ),
            sa.PrimaryKeyConstraint("sid", name=f"pk_{table}"),
        )
        op.create_index(f"ix_{table}_account_sid", table, ["account_sid"])
        op.create_index(f"ix_{table}_network_sid", table, ["network_sid"])
    op.create_table(
        "things_ip_profiles",
        sa.Column("sid", sa.String(34), nullable=False),
        sa.Column("account_sid", sa.String(34), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("inbound", sa.JSON(), nullable=False),
        sa.Column("outbound", sa.JSON(), nullable=False),
        sa.Column("default_action", sa.String(8), nullable=False),
        *_times(),
        sa.ForeignKeyConstraint(["account_sid"], ["accounts.sid"], name="fk_things_ip_profiles_account_sid_accounts"),
        sa.PrimaryKeyConstraint("sid", name="pk_things_ip_profiles"),
    )
    op.create_index("ix_things_ip_profiles_account_sid", "things_ip_profiles", ["account_sid"])
    op.create_table(
        "things_groups",
        sa.Column("sid", sa.String(34), nullable=False),
        sa.Column("account_sid", sa.String(34), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("network_sid", sa.String(34), nullable=False),
        sa.Column("ip_profile_sid", sa.String(34), nullable=False),
        sa.Column("default_for", sa.String(34), nullable=True),
        *_times(),
        sa.ForeignKeyConstraint(["account_sid"], ["accounts.sid"], name="fk_things_groups_account_sid_accounts"),
        sa.ForeignKeyConstraint(
            ["network_sid"], ["things_networks.sid"], name="fk_things_groups_network_sid_things_networks"
        ),
        sa.ForeignKeyConstraint(
            ["ip_profile_sid"], ["things_ip_profiles.sid"], name="fk_things_groups_ip_profile_sid_things_ip_profiles"
        ),
        sa.PrimaryKeyConstraint("sid", name="pk_things_groups"),
        sa.UniqueConstraint("default_for", name="uq_things_groups_default_for"),
    )
    op.create_index("ix_things_groups_account_sid", "things_groups", ["account_sid"])
    op.create_index("ix_things_groups_network_sid", "things_groups", ["network_sid"])
    op.create_index("ix_things_groups_ip_profile_sid", "things_groups", ["ip_profile_sid"])
    op.create_table(
        "things_nat_rules",
        sa.Column("sid", sa.String(34), nullable=False),
        sa.Column("account_sid", sa.String(34), nullable=False),
        sa.Column("network_sid", sa.String(34), nullable=False),
        sa.Column("protocol", sa.String(4), nullable=False),
        sa.Column("public_port", sa.Integer(), nullable=False),
        sa.Column("thing_sid", sa.String(34), nullable=True),
        sa.Column("private_ip", sa.String(15), nullable=True),
        sa.Column("private_port", sa.Integer(), nullable=False),
        *_times(),
        sa.ForeignKeyConstraint(
            ["network_sid"],
            ["things_networks.sid"],
            name="fk_things_nat_rules_network_sid_things_networks",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("sid", name="pk_things_nat_rules"),
        sa.UniqueConstraint("network_sid", "protocol", "public_port", name="uq_things_nat_rules_public_port"),
    )
    op.create_index("ix_things_nat_rules_account_sid", "things_nat_rules", ["account_sid"])
    op.create_index("ix_things_nat_rules_network_sid", "things_nat_rules", ["network_sid"])
    op.create_index("ix_things_nat_rules_thing_sid", "things_nat_rules", ["thing_sid"])
    with op.batch_alter_table("sims") as batch_op:
        batch_op.add_column(sa.Column("things_group_sid", sa.String(34), nullable=True))
        batch_op.add_column(sa.Column("services_data", sa.Boolean(), server_default=sa.true(), nullable=False))
        batch_op.add_column(sa.Column("services_sms", sa.Boolean(), server_default=sa.true(), nullable=False))
        batch_op.add_column(sa.Column("locked_ip", sa.String(15), nullable=True))
        batch_op.create_index("ix_sims_things_group_sid", ["things_group_sid"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("sims") as batch_op:
        batch_op.drop_index("ix_sims_things_group_sid")
        for column in ("locked_ip", "services_sms", "services_data", "things_group_sid"):
            batch_op.drop_column(column)
    for table in (
        "things_nat_rules",
        "things_groups",
        "things_ip_profiles",
        "things_routes",
        "things_ip_pools",
        "things_networks",
    ):
        op.drop_table(table)
