"""Billing periods of a SIM: one `ready` period, then monthly `active` periods from activation."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from cellplane.store.models.base import Base, Timestamps, UtcDateTime


class BillingPeriod(Timestamps, Base):
    __tablename__ = "billing_periods"
    __table_args__ = (Index("ix_billing_periods_sim_sid_start", "sim_sid", "start_time"),)

    sid: Mapped[str] = mapped_column(String(34), primary_key=True)
    account_sid: Mapped[str] = mapped_column(ForeignKey("accounts.sid"), nullable=False)
    sim_sid: Mapped[str] = mapped_column(ForeignKey("sims.sid"), nullable=False)
    start_time: Mapped[datetime] = mapped_column(UtcDateTime(), nullable=False)
    end_time: Mapped[datetime] = mapped_column(UtcDateTime(), nullable=False)
    period_type: Mapped[str] = mapped_column(String(8), nullable=False)
    # Bytes used in this period, counted toward the fleet's data limit (the seed: the counter follows
    # the billing period, even across account moves).
    data_used: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0, server_default="0")
