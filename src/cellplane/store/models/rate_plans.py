"""Programmable Wireless rate plans: what a Wireless SIM may do (data, messaging, roaming and their limits)."""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cellplane.store.models.base import Base, Timestamps


class RatePlan(Timestamps, Base):
    __tablename__ = "rate_plans"
    __table_args__ = (UniqueConstraint("account_sid", "unique_name", name="uq_rate_plans_account_unique_name"),)

    sid: Mapped[str] = mapped_column(String(34), primary_key=True)
    account_sid: Mapped[str] = mapped_column(ForeignKey("accounts.sid"), index=True, nullable=False)
    unique_name: Mapped[str | None] = mapped_column(String(64))
    friendly_name: Mapped[str | None] = mapped_column(String(64))
    data_enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    data_metering: Mapped[str] = mapped_column(String(16), nullable=False, default="payg")
    data_limit: Mapped[int] = mapped_column(Integer, nullable=False, default=1000)
    data_limit_strategy: Mapped[str] = mapped_column(String(8), nullable=False, default="block")
    messaging_enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    voice_enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    national_roaming_enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    national_roaming_data_limit: Mapped[int] = mapped_column(Integer, nullable=False, default=1000)
    international_roaming: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    international_roaming_data_limit: Mapped[int] = mapped_column(Integer, nullable=False, default=1000)
