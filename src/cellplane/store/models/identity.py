"""An account's API clients and the access tokens they issued, its users, and the audit log."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from cellplane.store.models.base import Base, Timestamps, UtcDateTime, utcnow


class ApiClient(Timestamps, Base):
    """OAuth2 client credentials (RFC 6749 §2.3.1): the secret is kept only as a hash, shown once at creation."""

    __tablename__ = "api_clients"

    sid: Mapped[str] = mapped_column(String(34), primary_key=True)  # the client_id
    account_sid: Mapped[str] = mapped_column(ForeignKey("accounts.sid"), index=True, nullable=False)
    friendly_name: Mapped[str | None] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    token_lifetime: Mapped[str] = mapped_column(String(8), nullable=False)
    secret_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    created_by: Mapped[str | None] = mapped_column(String(34))
    date_last_used: Mapped[datetime | None] = mapped_column(UtcDateTime())


class AccessToken(Base):
    """An opaque Bearer token, stored as its SHA-256 (the token itself has 256 random bits, so a fast hash is
    enough and a lookup by hash is one index probe). Deleting the client deletes its tokens: revocation at once."""

    __tablename__ = "access_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_sid: Mapped[str] = mapped_column(ForeignKey("api_clients.sid", ondelete="CASCADE"), index=True)
    account_sid: Mapped[str] = mapped_column(String(34), nullable=False)
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True, nullable=False)


class User(Timestamps, Base):
    """A person of an account: signs in with email and password (argon2id hash, never the password itself)."""

    __tablename__ = "users"

    sid: Mapped[str] = mapped_column(String(34), primary_key=True)
    account_sid: Mapped[str] = mapped_column(ForeignKey("accounts.sid"), index=True, nullable=False)
    email: Mapped[str] = mapped_column(String(254), unique=True, nullable=False)
    friendly_name: Mapped[str | None] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    password_hash: Mapped[str] = mapped_column(String(256), nullable=False)
    created_by: Mapped[str | None] = mapped_column(String(34))
    failed_sign_ins: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    next_sign_in_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    date_last_sign_in: Mapped[datetime | None] = mapped_column(UtcDateTime())


class AuditEvent(Base):
    """One change: who (actor kind and sid), what (method, path, resource and its sid, status), when, from where."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_account_sid_sid", "account_sid", "sid"),)

    sid: Mapped[str] = mapped_column(String(34), primary_key=True)
    account_sid: Mapped[str | None] = mapped_column(String(34))
    actor_kind: Mapped[str] = mapped_column(String(16), nullable=False)
    actor_sid: Mapped[str | None] = mapped_column(String(64))
    role: Mapped[str | None] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(160), nullable=False)  # "POST /supersim/v1/Sims/{sid}" or a command
    resource: Mapped[str | None] = mapped_column(String(32))
    resource_sid: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[int | None] = mapped_column(Integer)
    source: Mapped[str | None] = mapped_column(String(128))  # a client address, or "cli"
    timestamp: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, nullable=False)
