"""Durable work (the outbox): jobs claimed by workers, and webhook deliveries with every attempt."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cellplane.store.models.base import Base, Timestamps, UtcDateTime, utcnow


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_status_run_at", "status", "run_at"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    payload: Mapped[dict[str, object]] = mapped_column(JSON, nullable=False)
    # pending → running → done | dead; a running job whose lease lapsed is claimable again.
    status: Mapped[str] = mapped_column(String(8), nullable=False, default="pending")
    run_at: Mapped[datetime] = mapped_column(UtcDateTime(), nullable=False, default=utcnow)
    locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime())
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # Raised by every claim: the runner's writes name the one they hold, so a lapsed claim's write changes nothing.
    claim_epoch: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    max_attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=8)
    last_error: Mapped[str | None] = mapped_column(Text)
    date_created: Mapped[datetime] = mapped_column(UtcDateTime(), nullable=False, default=utcnow)


class SingletonLease(Base):
    """A periodic task that must run on one node at a time: who holds it, until when (database clock), and the
    epoch raised by every taking-over, which each of the holder's transactions checks (jobs/singleton.py)."""

    __tablename__ = "singleton_leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    epoch: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0, server_default="0")
    holder: Mapped[str | None] = mapped_column(String(128))
    lease_until: Mapped[datetime | None] = mapped_column(UtcDateTime())


class WebhookDelivery(Timestamps, Base):
    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_account_sid_sid", "account_sid", "sid"),)

    sid: Mapped[str] = mapped_column(String(34), primary_key=True)
    account_sid: Mapped[str] = mapped_column(String(34), nullable=False)
    event: Mapped[str] = mapped_column(String(48), nullable=False)
    resource_sid: Mapped[str | None] = mapped_column(String(34), index=True)
    url: Mapped[str] = mapped_column(String(1024), nullable=False)
    method: Mapped[str] = mapped_column(String(8), nullable=False, default="POST")
    params: Mapped[dict[str, str]] = mapped_column(JSON, nullable=False)
    idempotency_token: Mapped[str] = mapped_column(String(64), nullable=False)
    # pending → delivered | failed (after the last retry).
    status: Mapped[str] = mapped_column(String(12), nullable=False, default="pending")
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)


class WebhookAttempt(Base):
    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    delivery_sid: Mapped[str] = mapped_column(String(34), index=True, nullable=False)
    attempt: Mapped[int] = mapped_column(Integer, nullable=False)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    date_created: Mapped[datetime] = mapped_column(UtcDateTime(), nullable=False, default=utcnow)
