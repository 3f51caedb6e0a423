"""IP Commands, SMS Commands (Super SIM) and Wireless Commands: messages to and from a SIM."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cellplane.store.models.base import Base, Timestamps, UtcDateTime


class IpCommand(Timestamps, Base):
    __tablename__ = "ip_commands"
    __table_args__ = (
        Index("ix_ip_commands_account_sid_sid", "account_sid", "sid"),
        Index("ix_ip_commands_sim_sid_sid", "sim_sid", "sid"),
        # The recovery sweep's lookup: queued commands whose dispatch_at has passed.
        Index("ix_ip_commands_status_dispatch_at", "status", "dispatch_at"),
    )

    sid: Mapped[str] = mapped_column(String(34), primary_key=True)
    account_sid: Mapped[str] = mapped_column(String(34), nullable=False)
    sim_sid: Mapped[str] = mapped_column(String(34), nullable=False)
    sim_iccid: Mapped[str] = mapped_column(String(22), nullable=False)
    status: Mapped[str] = mapped_column(String(12), nullable=False, default="queued")
    direction: Mapped[str] = mapped_column(String(8), nullable=False)
    device_ip: Mapped[str | None] = mapped_column(String(45))
    device_port: Mapped[int] = mapped_column(Integer, nullable=False)
    payload_type: Mapped[str] = mapped_column(String(8), nullable=False, default="text")
    # Text as given, or the base64 text of a binary payload, exactly as the API shows it.
    payload: Mapped[str] = mapped_column(Text, nullable=False)
    callback_url: Mapped[str | None] = mapped_column(String(1024))
    callback_method: Mapped[str | None] = mapped_column(String(8))
    error_code: Mapped[int | None] = mapped_column(Integer)
    error_message: Mapped[str | None] = mapped_column(String(256))
    # The row in status `queued` is the durable work item (services/ip_command_outbox.py): the process that
    # accepted it sends it at once; if it is still queued after `dispatch_at` (that process died, or dispatch
    # is paced), the recovery sweep sends it. Null for commands from the SIM.
    dispatch_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class SmsCommand(Timestamps, Base):
    __tablename__ = "sms_commands"
    __table_args__ = (
        Index("ix_sms_commands_account_sid_sid", "account_sid", "sid"),
        Index("ix_sms_commands_sim_sid_sid", "sim_sid", "sid"),
    )

    sid: Mapped[str] = mapped_column(String(34), primary_key=True)
    account_sid: Mapped[str] = mapped_column(String(34), nullable=False)
    sim_sid: Mapped[str] = mapped_column(String(34), nullable=False)
    payload: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[str] = mapped_column(String(12), nullable=False, default="queued")
    direction: Mapped[str] = mapped_column(String(8), nullable=False)
    callback_url: Mapped[str | None] = mapped_column(String(1024))
    callback_method: Mapped[str | None] = mapped_column(String(8))
    error_code: Mapped[int | None] = mapped_column(Integer)
    error_message: Mapped[str | None] = mapped_column(String(256))


class WirelessCommand(Timestamps, Base):
    """A Programmable Wireless Command; carried over SMS or IP by the same machinery as Super SIM commands."""

    __tablename__ = "wireless_commands"
    __table_args__ = (
        Index("ix_wireless_commands_account_sid_sid", "account_sid", "sid"),
        Index("ix_wireless_commands_sim_sid_sid", "sim_sid", "sid"),
    )

    sid: Mapped[str] = mapped_column(String(34), primary_key=True)
    account_sid: Mapped[str] = mapped_column(String(34), nullable=False)
    sim_sid: Mapped[str] = mapped_column(String(34), nullable=False)
    command: Mapped[str] = mapped_column(Text, nullable=False)
    command_mode: Mapped[str] = mapped_column(String(8), nullable=False, default="text")
    transport: Mapped[str] = mapped_column(String(4), nullable=False, default="sms")
    delivery_receipt_requested: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    include_sid: Mapped[str] = mapped_column(String(8), nullable=False, default="none")
    status: Mapped[str] = mapped_column(String(12), nullable=False, default="queued")
    direction: Mapped[str] = mapped_column(String(8), nullable=False)
    callback_url: Mapped[str | None] = mapped_column(String(1024))
    callback_method: Mapped[str | None] = mapped_column(String(8))
    error_code: Mapped[int | None] = mapped_column(Integer)
    error_message: Mapped[str | None] = mapped_column(String(256))
