"""Data sessions (from RADIUS accounting), hourly usage buckets, and connection events."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cellplane.store.models.base import Base, UtcDateTime, utcnow


class DataSession(Base):
    """One PDN session of a SIM, as the gateway reported it over RADIUS accounting.

    Counters are the cumulative totals the gateway last reported (RADIUS accounting counters are
    cumulative per session, RFC 2866 §5.3), so a retransmitted or late packet can never count twice:
    only the growth over what is stored becomes usage.
    """

    __tablename__ = "data_sessions"
    __table_args__ = (
        UniqueConstraint("nas_id", "acct_session_id", name="uq_data_sessions_nas_acct_session"),
        Index("ix_data_sessions_sim_sid_sid", "sim_sid", "sid"),
        Index("ix_data_sessions_status_sim", "status", "sim_sid"),
    )

    sid: Mapped[str] = mapped_column(String(34), primary_key=True)
    account_sid: Mapped[str | None] = mapped_column(String(34), index=True)
    sim_sid: Mapped[str] = mapped_column(String(34), nullable=False)
    fleet_sid: Mapped[str | None] = mapped_column(String(34))
    imsi: Mapped[str] = mapped_column(String(15), nullable=False)
    # Who reported it: the NAS (gateway) identity and address, to send it Disconnect-Requests (RFC 5176).
    nas_id: Mapped[str] = mapped_column(String(64), nullable=False)
    nas_address: Mapped[str | None] = mapped_column(String(64))
    acct_session_id: Mapped[str] = mapped_column(String(64), nullable=False)
    status: Mapped[str] = mapped_column(String(8), nullable=False, default="open")
    ue_ip: Mapped[str | None] = mapped_column(String(45))
    apn: Mapped[str | None] = mapped_column(String(64))
    network_sid: Mapped[str | None] = mapped_column(String(34))
    mcc: Mapped[str | None] = mapped_column(String(3))
    mnc: Mapped[str | None] = mapped_column(String(3))
    iso_country: Mapped[str | None] = mapped_column(String(2))
    operator_name: Mapped[str | None] = mapped_column(String(128))
    radio_link: Mapped[str | None] = mapped_column(String(16))
    cell_id: Mapped[str | None] = mapped_column(String(32))
    imei: Mapped[str | None] = mapped_column(String(16))
    bytes_up: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    bytes_down: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    packets_up: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    packets_down: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    terminate_cause: Mapped[str | None] = mapped_column(String(32))
    start: Mapped[datetime] = mapped_column(UtcDateTime(), nullable=False, default=utcnow)
    end: Mapped[datetime | None] = mapped_column(UtcDateTime())
    last_updated: Mapped[datetime] = mapped_column(UtcDateTime(), nullable=False, default=utcnow)


class UsageBucket(Base):
    """Usage of one SIM in one hour on one network: the unit every usage report is summed from."""

    __tablename__ = "usage_buckets"
    __table_args__ = (
        UniqueConstraint("sim_sid", "hour", "network_sid", name="uq_usage_buckets_sim_hour_network"),
        Index("ix_usage_buckets_account_hour", "account_sid", "hour"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    account_sid: Mapped[str] = mapped_column(String(34), nullable=False)
    sim_sid: Mapped[str] = mapped_column(String(34), nullable=False)
    fleet_sid: Mapped[str | None] = mapped_column(String(34))
    # "" when unknown, so the unique constraint holds (NULLs are distinct in SQL).
    network_sid: Mapped[str] = mapped_column(String(34), nullable=False, default="")
    iso_country: Mapped[str | None] = mapped_column(String(2))
    hour: Mapped[datetime] = mapped_column(UtcDateTime(), nullable=False)
    bytes_up: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    bytes_down: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    sms_to_sim: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    sms_from_sim: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    ip_to_sim: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    ip_from_sim: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class ConnectionEvent(Base):
    """Every attach accepted, rejected or failed, and every data session start, update and end."""

    __tablename__ = "connection_events"
    __table_args__ = (
        Index("ix_connection_events_account_sid_sid", "account_sid", "sid"),
        Index("ix_connection_events_sim_sid_sid", "sim_sid", "sid"),
    )

    sid: Mapped[str] = mapped_column(String(34), primary_key=True)
    account_sid: Mapped[str | None] = mapped_column(String(34))
    sim_sid: Mapped[str | None] = mapped_column(String(34))
    iccid: Mapped[str | None] = mapped_column(String(22))
    imsi: Mapped[str | None] = mapped_column(String(15))
    fleet_sid: Mapped[str | None] = mapped_column(String(34))
    event_type: Mapped[str] = mapped_column(String(24), nullable=False)
    network_sid: Mapped[str | None] = mapped_column(String(34))
    mcc: Mapped[str | None] = mapped_column(String(3))
    mnc: Mapped[str | None] = mapped_column(String(3))
    radio_link: Mapped[str | None] = mapped_column(String(16))
    imei: Mapped[str | None] = mapped_column(String(16))
    ip_address: Mapped[str | None] = mapped_column(String(45))
    data_session_sid: Mapped[str | None] = mapped_column(String(34))
    reason: Mapped[str | None] = mapped_column(String(256))
    error_code: Mapped[int | None] = mapped_column(Integer)
    bytes_up: Mapped[int | None] = mapped_column(BigInteger)
    bytes_down: Mapped[int | None] = mapped_column(BigInteger)
    timestamp: Mapped[datetime] = mapped_column(UtcDateTime(), nullable=False, default=utcnow)
