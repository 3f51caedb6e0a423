"""Rating (issue 18): each account's price plan, every Thing's state changes with their time, stored report downloads.

Prices are stored as decimal strings: SQLite has no exact decimal type, and the engine (domain/rating.py) needs
the exact value back.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cellplane.store.models.base import Base, Timestamps, UtcDateTime, utcnow


class PricePlan(Timestamps, Base):
    __tablename__ = "things_price_plans"

    account_sid: Mapped[str] = mapped_column(ForeignKey("accounts.sid"), primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    monthly_fee: Mapped[str] = mapped_column(String(32), nullable=False)
    per_mb: Mapped[str] = mapped_column(String(32), nullable=False)
    per_sms: Mapped[str] = mapped_column(String(32), nullable=False)


class ThingStateChange(Base):
    """A Thing's stored status became `status` at `at` (written with the change, in its transaction)."""

    __tablename__ = "things_state_changes"
    __table_args__ = (Index("ix_things_state_changes_sim_at", "sim_sid", "at"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    account_sid: Mapped[str | None] = mapped_column(String(34), index=True)
    sim_sid: Mapped[str] = mapped_column(String(34), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    at: Mapped[datetime] = mapped_column(UtcDateTime(), nullable=False, default=utcnow)


class ReportDownload(Base):
    """A large billing report, stored for its account until `expires_at` (the 302 of GET /billingReports)."""

    __tablename__ = "things_report_downloads"

    sid: Mapped[str] = mapped_column(String(34), primary_key=True)
    account_sid: Mapped[str] = mapped_column(String(34), index=True, nullable=False)
    media_type: Mapped[str] = mapped_column(String(32), nullable=False)
    content: Mapped[str] = mapped_column(Text, nullable=False)
    date_created: Mapped[datetime] = mapped_column(UtcDateTime(), nullable=False, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime(), nullable=False)
