"""eSIM profiles and SIM settings updates (over-the-air profile packages)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from cellplane.store.models.base import Base, Timestamps, UtcDateTime


class EsimProfile(Timestamps, Base):
    __tablename__ = "esim_profiles"

    sid: Mapped[str] = mapped_column(String(34), primary_key=True)
    account_sid: Mapped[str] = mapped_column(ForeignKey("accounts.sid"), index=True, nullable=False)
    iccid: Mapped[str | None] = mapped_column(String(22))
    sim_sid: Mapped[str | None] = mapped_column(String(34), index=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="new")
    eid: Mapped[str | None] = mapped_column(String(32), index=True)
    smdp_plus_address: Mapped[str | None] = mapped_column(String(256))
    matching_id: Mapped[str | None] = mapped_column(String(64))
    activation_code: Mapped[str | None] = mapped_column(String(256))
    error_code: Mapped[str | None] = mapped_column(String(16))
    error_message: Mapped[str | None] = mapped_column(String(256))
    callback_url: Mapped[str | None] = mapped_column(String(1024))
    callback_method: Mapped[str | None] = mapped_column(String(8))


class SettingsUpdate(Timestamps, Base):
    __tablename__ = "settings_updates"

    sid: Mapped[str] = mapped_column(String(34), primary_key=True)
    account_sid: Mapped[str] = mapped_column(ForeignKey("accounts.sid"), index=True, nullable=False)
    iccid: Mapped[str] = mapped_column(String(22), nullable=False)
    sim_sid: Mapped[str] = mapped_column(ForeignKey("sims.sid"), index=True, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="scheduled")
    packages: Mapped[list[dict[str, object]]] = mapped_column(JSON, nullable=False, default=list)
    date_completed: Mapped[datetime | None] = mapped_column(UtcDateTime())
