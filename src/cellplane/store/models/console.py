"""Sessions of people signed in to the web console (the cookie holds a random token; only its hash is stored)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from cellplane.store.models.base import Base, UtcDateTime, utcnow


class ConsoleSession(Base):
    """One signed-in browser: who it acts as, with which role, until when, and its CSRF token."""

    __tablename__ = "console_sessions"
    __table_args__ = (Index("ix_console_sessions_expires_at", "expires_at"),)

    # SHA-256 hex of the cookie's token: a leaked table gives no usable cookie.
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_sid: Mapped[str] = mapped_column(String(34), nullable=False, index=True)
    credential_sid: Mapped[str] = mapped_column(String(34), nullable=False)
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    csrf_token: Mapped[str] = mapped_column(String(64), nullable=False)
    date_created: Mapped[datetime] = mapped_column(UtcDateTime(), nullable=False, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime(), nullable=False)
