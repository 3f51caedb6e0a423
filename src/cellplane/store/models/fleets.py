"""Fleets, network access profiles and the networks a profile allows."""

from __future__ import annotations

from sqlalchemy import Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cellplane.store.models.base import Base, Timestamps, UtcDateTime, utcnow


class NetworkAccessProfile(Timestamps, Base):
    __tablename__ = "network_access_profiles"
    __table_args__ = (UniqueConstraint("account_sid", "unique_name", name="uq_naps_account_unique_name"),)

    sid: Mapped[str] = mapped_column(String(34), primary_key=True)
    account_sid: Mapped[str] = mapped_column(ForeignKey("accounts.sid"), index=True, nullable=False)
    unique_name: Mapped[str | None] = mapped_column(String(64))


class NetworkAccessProfileNetwork(Base):
    __tablename__ = "network_access_profile_networks"

    network_access_profile_sid: Mapped[str] = mapped_column(
        ForeignKey("network_access_profiles.sid", ondelete="CASCADE"), primary_key=True
    )
    network_sid: Mapped[str] = mapped_column(String(34), primary_key=True)
    date_created = mapped_column(UtcDateTime(), default=utcnow, nullable=False)


class Fleet(Timestamps, Base):
    __tablename__ = "fleets"
    __table_args__ = (UniqueConstraint("account_sid", "unique_name", name="uq_fleets_account_unique_name"),)

    sid: Mapped[str] = mapped_column(String(34), primary_key=True)
    account_sid: Mapped[str] = mapped_column(ForeignKey("accounts.sid"), index=True, nullable=False)
    unique_name: Mapped[str | None] = mapped_column(String(64))
    data_enabled: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)
    data_limit: Mapped[int] = mapped_column(Integer, default=1000, nullable=False)
    data_metering: Mapped[str] = mapped_column(String(16), default="payg", nullable=False)
    sms_commands_enabled: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)
    sms_commands_url: Mapped[str | None] = mapped_column(String(1024))
    sms_commands_method: Mapped[str] = mapped_column(String(8), default="POST", nullable=False)
    ip_commands_url: Mapped[str | None] = mapped_column(String(1024))
    ip_commands_method: Mapped[str] = mapped_column(String(8), default="POST", nullable=False)
    network_access_profile_sid: Mapped[str] = mapped_column(
        ForeignKey("network_access_profiles.sid"), index=True, nullable=False
    )
