"""identity: API clients and their access tokens, users, the audit log

Why: OAuth2 client credentials and Bearer tokens on every surface, users with roles, and a record of every change
(issue 15). Secrets and passwords are stored only as hashes.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 09:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from cellplane.store.models.base import UtcDateTime

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_clients",
        sa.Column("sid", sa.String(length=34), nullable=False),
        sa.Column("account_sid", sa.String(length=34), nullable=False),
        sa.Column("friendly_name", sa.String(length=64), nullable=True),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("token_lifetime", sa.String(length=8), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.String(length=34), nullable=True),
        sa.Column("date_last_used", UtcDateTime(), nullable=True),
        sa.Column("date_created", UtcDateTime(), nullable=False),
        sa.Column("date_updated", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["account_sid"], ["accounts.sid"], name=op.f("fk_api_clients_account_sid_accounts")),
        sa.PrimaryKeyConstraint("sid", name=op.f("pk_api_clients")),
    )
    op.create_index(op.f("ix_api_clients_account_sid"), "api_clients", ["account_sid"], unique=False)

    op.create_table(
        "access_tokens",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("client_sid", sa.String(length=34), nullable=False),
        sa.Column("account_sid", sa.String(length=34), nullable=False),
        sa.Column("issued_at", UtcDateTime(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_sid"],
            ["api_clients.sid"],
            name=op.f("fk_access_tokens_client_sid_api_clients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_access_tokens")),
    )
    op.create_index(op.f("ix_access_tokens_client_sid"), "access_tokens", ["client_sid"], unique=False)
    op.create_index(op.f("ix_access_tokens_expires_at"), "access_tokens", ["expires_at"], unique=False)

    op.create_table(
        "users",
        sa.Column("sid", sa.String(length=34), nullable=False),
        sa.Column("account_sid", sa.String(length=34), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("friendly_name", sa.String(length=64), nullable=True),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("password_hash", sa.String(length=256), nullable=False),
        sa.Column("created_by", sa.String(length=34), nullable=True),
        sa.Column("failed_sign_ins", sa.Integer(), nullable=False),
        sa.Column("next_sign_in_at", UtcDateTime(), nullable=True),
        sa.Column("date_last_sign_in", UtcDateTime(), nullable=True),
        sa.Column("date_created", UtcDateTime(), nullable=False),
        sa.Column("date_updated", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["account_sid"], ["accounts.sid"], name=op.f("fk_users_account_sid_accounts")),
        sa.PrimaryKeyConstraint("sid", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
    )
    op.create_index(op.f("ix_users_account_sid"), "users", ["account_sid"], unique=False)

    op.create_table(
        "audit_events",
        sa.Column("sid", sa.String(length=34), nullable=False),
        sa.Column("account_sid", sa.String(length=34), nullable=True),
        sa.Column("actor_kind", sa.String(length=16), nullable=False),
        sa.Column("actor_sid", sa.String(length=64), nullable=True),
        sa.Column("role", sa.String(length=16), nullable=True),
        sa.Column("action", sa.String(length=160), nullable=False),
        sa.Column("resource", sa.String(length=32), nullable=True),
        sa.Column("resource_sid", sa.String(length=64), nullable=True),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("source", sa.String(length=128), nullable=True),
        sa.Column("timestamp", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("sid", name=op.f("pk_audit_events")),
    )
    op.create_index("ix_audit_events_account_sid_sid", "audit_events", ["account_sid", "sid"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_audit_events_account_sid_sid", table_name="audit_events")
    op.drop_table("audit_events")
    op.drop_index(op.f("ix_users_account_sid"), table_name="users")
    op.drop_table("users")
    op.drop_index(op.f("ix_access_tokens_expires_at"), table_name="access_tokens")
    op.drop_index(op.f("ix_access_tokens_client_sid"), table_name="access_tokens")
    op.drop_table("access_tokens")
    op.drop_index(op.f("ix_api_clients_account_sid"), table_name="api_clients")
    op.drop_table("api_clients")
