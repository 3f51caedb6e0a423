"""console_sessions: server-side sessions of the web console (issue 19)

Why on the server: signing out or an expiry must end a session for good, which a self-contained cookie cannot
promise. The cookie carries a random token; the table keeps its SHA-256, the account and role it acts as, the
CSRF token of its forms and when it expires. And an index for the console's dashboard (SIMs by product and
status).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 09:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from cellplane.store.models.base import UtcDateTime

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "console_sessions",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("account_sid", sa.String(length=34), nullable=False),
        sa.Column("credential_sid", sa.String(length=34), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("date_created", UtcDateTime(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_console_sessions")),
    )
    op.create_index("ix_console_sessions_expires_at", "console_sessions", ["expires_at"])
    op.create_index(op.f("ix_console_sessions_account_sid"), "console_sessions", ["account_sid"])
    # The dashboard's SIMs by product and status: an index-only scan of one account's entries, not its rows.
    op.create_index("ix_sims_account_product_status", "sims", ["account_sid", "product", "status"])


def downgrade() -> None:
    op.drop_index("ix_sims_account_product_status", table_name="sims")
    op.drop_index(op.f("ix_console_sessions_account_sid"), table_name="console_sessions")
    op.drop_index("ix_console_sessions_expires_at", table_name="console_sessions")
    op.drop_table("console_sessions")
