"""SIMs: the operator's inventory and, once claimed, the customer's Sim resource."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, UniqueConstraint, text, true
from sqlalchemy.orm import Mapped, mapped_column

from cellplane.store.models.base import Base, Timestamps, UtcDateTime


class Sim(Timestamps, Base):
    __tablename__ = "sims"
    __table_args__ = (
        UniqueConstraint("account_sid", "unique_name", name="uq_sims_account_unique_name"),
        Index("ix_sims_account_sid_sid", "account_sid", "sid"),
        # The console's dashboard counts SIMs by product and status from this index alone (migration 0013).
        Index("ix_sims_account_product_status", "account_sid", "product", "status"),
        # The console's ICCID and name prefix searches read their matches' sids from these alone (migration 0020).
        Index("ix_sims_account_iccid_sid", "account_sid", "iccid", "sid"),
        Index("ix_sims_account_name_sid", "account_sid", "unique_name", "sid"),
        # Things holding a locked address, by group: what a pool's usage counts (migration 0018).
        Index(
            "ix_sims_things_group_locked_ip",
            "things_group_sid",
            "locked_ip",
            postgresql_where=text("product = 'things' AND locked_ip IS NOT NULL"),
            sqlite_where=text("product = 'things' AND locked_ip IS NOT NULL"),
        ),
    )

    sid: Mapped[str] = mapped_column(String(34), primary_key=True)
    product: Mapped[str] = mapped_column(String(16), nullable=False, default="supersim")
    account_sid: Mapped[str | None] = mapped_column(ForeignKey("accounts.sid"))
    iccid: Mapped[str] = mapped_column(String(22), unique=True, nullable=False)
    imsi: Mapped[str] = mapped_column(String(15), unique=True, nullable=False)
    registration_code: Mapped[str] = mapped_column(String(32), nullable=False)
    eid: Mapped[str | None] = mapped_column(String(32))
    msisdn: Mapped[str | None] = mapped_column(String(20))
    unique_name: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="new")
    fleet_sid: Mapped[str | None] = mapped_column(ForeignKey("fleets.sid"), index=True)
    # An asynchronous update in flight: where the SIM is going once the network confirms.
    pending_status: Mapped[str | None] = mapped_column(String(16))
    pending_fleet_set: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    pending_fleet_sid: Mapped[str | None] = mapped_column(String(34))
    callback_url: Mapped[str | None] = mapped_column(String(1024))
    callback_method: Mapped[str | None] = mapped_column(String(8))
    claimed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    date_activated: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # Counters toward the ready → active rule (250 KB, 5 SMS, 3 months).
    ready_bytes: Mapped[int] = mapped_column(BigInteger, default=0, nullable=False)
    ready_sms: Mapped[int] = mapped_column(Integer, default=0, nullable=False)

    # Programmable Wireless fields (product "wireless"); null for Super SIMs.
    rate_plan_sid: Mapped[str | None] = mapped_column(String(34), index=True)
    friendly_name: Mapped[str | None] = mapped_column(String(64))
    reset_status: Mapped[str | None] = mapped_column(String(16))
    commands_callback_url: Mapped[str | None] = mapped_column(String(1024))
    commands_callback_method: Mapped[str | None] = mapped_column(String(8))
    sms_url: Mapped[str | None] = mapped_column(String(1024))
    sms_method: Mapped[str | None] = mapped_column(String(8))
    sms_fallback_url: Mapped[str | None] = mapped_column(String(1024))
    sms_fallback_method: Mapped[str | None] = mapped_column(String(8))
    voice_url: Mapped[str | None] = mapped_column(String(1024))
    voice_method: Mapped[str | None] = mapped_column(String(8))
    voice_fallback_url: Mapped[str | None] = mapped_column(String(1024))
    voice_fallback_method: Mapped[str | None] = mapped_column(String(8))

    # Things (product "things", THINGS.md); null or defaults for the other products.
    things_group_sid: Mapped[str | None] = mapped_column(String(34), index=True)
    services_data: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False, server_default=true())
    services_sms: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False, server_default=true())
    locked_ip: Mapped[str | None] = mapped_column(String(15))
    # IMEI monitoring (issue 18): the lock, if any (an attach from another IMEI is refused).
    imei_lock: Mapped[str | None] = mapped_column(String(16))
    # The last IMEI the AAA saw for this SIM (any product): its policy cache holds it, so an attach costs nothing more.
    last_imei: Mapped[str | None] = mapped_column(String(16))
