"""Accounts (parents and subaccounts) and their API keys."""

from __future__ import annotations

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from cellplane.store.models.base import Base, Timestamps


class Account(Timestamps, Base):
    __tablename__ = "accounts"

    sid: Mapped[str] = mapped_column(String(34), primary_key=True)
    friendly_name: Mapped[str | None] = mapped_column(String(64))
    parent_sid: Mapped[str | None] = mapped_column(ForeignKey("accounts.sid"), index=True)
    # Kept in clear: webhooks are signed with it (HMAC key), exactly as the hosted platform does.
    auth_token: Mapped[str] = mapped_column(String(64), nullable=False)
    status: Mapped[str] = mapped_column(String(16), default="active", nullable=False)
    # The events URL of the Things surface (/things/v1/eventsCallback): where platform events are posted.
    events_callback_url: Mapped[str | None] = mapped_column(String(1024))
    events_callback_method: Mapped[str | None] = mapped_column(String(8))


class ApiKey(Timestamps, Base):
    __tablename__ = "api_keys"

    sid: Mapped[str] = mapped_column(String(34), primary_key=True)
    account_sid: Mapped[str] = mapped_column(ForeignKey("accounts.sid"), index=True, nullable=False)
    friendly_name: Mapped[str | None] = mapped_column(String(64))
    secret_hash: Mapped[str] = mapped_column(String(64), nullable=False)
