"""The outbox: durable work and webhooks written in the same transaction as the change that caused them."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from cellplane.domain.ids import Prefix, new_sid
from cellplane.store.models import Job, WebhookDelivery
from cellplane.store.models.base import utcnow

WEBHOOK_JOB = "webhook"


def enqueue(
    session: AsyncSession,
    kind: str,
    payload: dict[str, Any],
    *,
    delay: float = 0.0,
    run_at: datetime | None = None,
    max_attempts: int = 8,
) -> Job:
    """Add a job to the caller's transaction; it runs only if that transaction commits."""
    when = run_at or (utcnow() + timedelta(seconds=delay))
    job = Job(kind=kind, payload=payload, run_at=when, max_attempts=max_attempts)
    session.add(job)
    return job


def enqueue_webhook(
    session: AsyncSession,
    *,
    account_sid: str,
    event: str,
    url: str,
    method: str | None,
    params: dict[str, str | None],
    resource_sid: str | None = None,
    max_attempts: int = 8,
) -> WebhookDelivery:
    """Record a webhook to deliver (at least once) and the job that delivers it."""
    values = webhook_values(account_sid=account_sid, event=event, url=url, method=method, params=params)
    delivery = WebhookDelivery(**values, resource_sid=resource_sid)
    session.add(delivery)
    enqueue(session, WEBHOOK_JOB, {"delivery_sid": delivery.sid}, max_attempts=max_attempts)
    return delivery


def webhook_values(
    *, account_sid: str, event: str, url: str, method: str | None, params: dict[str, str | None]
) -> dict[str, Any]:
    """The columns of a new webhook delivery (without its resource_sid), for the ORM or a Core insert."""
    return {
        "sid": new_sid(Prefix.WEBHOOK_DELIVERY),
        "account_sid": account_sid,
        "event": event,
        "url": url,
        "method": (method or "POST").upper(),
        "params": {name: value for name, value in params.items() if value is not None},
        "idempotency_token": secrets.token_hex(16),
    }


def webhook_job_values(delivery_sid: str, now: datetime, max_attempts: int = 8) -> dict[str, Any]:
    """The columns of the job that delivers a webhook, for a Core insert (enqueue's job, without a session)."""
    return {
        "kind": WEBHOOK_JOB,
        "payload": {"delivery_sid": delivery_sid},
        "status": "pending",
        "run_at": now,
        "attempts": 0,
        "max_attempts": max_attempts,
        "date_created": now,
    }
