"""Tags on Things, bulk actions and their items, IMEI changes (issue 18, THINGS.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cellplane.store.models.base import Base, Timestamps, UtcDateTime, utcnow


class ThingTag(Base):
    """One tag of one Thing: a row per (Thing, tag), so the list filter and the counts are index look-ups."""

    __tablename__ = "things_tags"
    __table_args__ = (Index("ix_things_tags_account_sid_tag", "account_sid", "tag"),)

    thing_sid: Mapped[str] = mapped_column(ForeignKey("sims.sid", ondelete="CASCADE"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_sid: Mapped[str] = mapped_column(String(34), nullable=False)


class BulkAction(Timestamps, Base):
    """An action over a frozen list of Things, run in batches by the `things_bulk` job."""

    __tablename__ = "things_bulk_actions"

    sid: Mapped[str] = mapped_column(String(34), primary_key=True)
    account_sid: Mapped[str] = mapped_column(ForeignKey("accounts.sid"), index=True, nullable=False)
    action: Mapped[str] = mapped_column(String(16), nullable=False)
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    selection: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    # queued → running → completed | cancelled
    status: Mapped[str] = mapped_column(String(12), nullable=False, default="queued")
    total: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    succeeded: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    failed: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    completed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class BulkItem(Base):
    """One Thing of a bulk action: `pending` until its batch commits `succeeded` or `failed` with the change itself."""

    __tablename__ = "things_bulk_items"
    __table_args__ = (Index("ix_things_bulk_items_pending", "bulk_sid", "outcome", "position"),)

    bulk_sid: Mapped[str] = mapped_column(ForeignKey("things_bulk_actions.sid", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    thing_sid: Mapped[str] = mapped_column(String(34), nullable=False)
    outcome: Mapped[str] = mapped_column(String(10), nullable=False, default="pending")
    error: Mapped[str | None] = mapped_column(Text)
    date_updated: Mapped[datetime | None] = mapped_column(UtcDateTime())


class ImeiChange(Base):
    """A Thing seen with another IMEI than before; `rejected` when its IMEI lock refused the attach."""

    __tablename__ = "things_imei_changes"
    __table_args__ = (Index("ix_things_imei_changes_thing", "thing_sid", "sid"),)

    sid: Mapped[str] = mapped_column(String(34), primary_key=True)
    account_sid: Mapped[str] = mapped_column(String(34), index=True, nullable=False)
    thing_sid: Mapped[str] = mapped_column(String(34), nullable=False)
    previous_imei: Mapped[str | None] = mapped_column(String(16))
    imei: Mapped[str] = mapped_column(String(16), nullable=False)
    network: Mapped[str | None] = mapped_column(String(8))
    rejected: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    at: Mapped[datetime] = mapped_column(UtcDateTime(), nullable=False, default=utcnow)
