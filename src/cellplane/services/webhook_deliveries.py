"""Webhook deliveries of an account: every callback the platform made or is still making, with its attempts.

The write side is the outbox (`enqueue_webhook`) and the sender job; this is what a user reads when a
receiver says it never heard from us: a newest-first list with filters, and one delivery with each attempt.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from cellplane.domain.caller import Caller
from cellplane.domain.errors import Conflict, InvalidParameter, NotFound
from cellplane.domain.ids import Prefix, is_sid
from cellplane.domain.paging import Page, PageSpec
from cellplane.services.outbox import WEBHOOK_JOB, enqueue
from cellplane.store.models import WebhookAttempt, WebhookDelivery
from cellplane.store.models.base import utcnow
from cellplane.store.repositories import webhooks as repo

STATUSES = ("pending", "delivered", "failed")
# Events are dotted lower-case names ("sim.updated", "ip_command.sent", ...).
_EVENT = re.compile(r"^[a-z][a-z0-9._-]{0,47}\Z")


@dataclass(frozen=True)
class DeliveryQuery:
    """The filters of GET /WebhookDeliveries; None means "any"."""

    status: str | None = None
    event: str | None = None
    resource_sid: str | None = None


async def list_deliveries(
    session: AsyncSession, caller: Caller, query: DeliveryQuery, spec: PageSpec
) -> Page[WebhookDelivery]:
    if query.event is not None and not _EVENT.match(query.event):
        raise InvalidParameter("Event", "Event must be an event name such as ip_command.sent")
    if query.resource_sid is not None and not is_sid(query.resource_sid):
        raise InvalidParameter("ResourceSid", "ResourceSid must be a resource sid (two letters and 32 hex digits)")
    where = repo.DeliveryFilter(status=query.status, event=query.event, resource_sid=query.resource_sid)
    return await repo.page(session, repo.list_query(caller.account_sid, where), spec)


async def fetch(session: AsyncSession, caller: Caller, sid: str) -> tuple[WebhookDelivery, list[WebhookAttempt]]:
    delivery = await repo.find_visible(session, sid, caller.visible) if is_sid(sid, Prefix.WEBHOOK_DELIVERY) else None
    if delivery is None:
        raise NotFound("WebhookDelivery", sid)
    return delivery, await repo.attempts(session, delivery.sid)


async def retry(session: AsyncSession, caller: Caller, sid: str) -> WebhookDelivery:
    """Try a failed delivery once more (a person's retry after fixing the receiver): it goes back to pending
    and one more attempt is queued; that attempt settles it delivered or failed again."""
    delivery, _ = await fetch(session, caller, sid)
    if delivery.status != "failed":
        raise Conflict(f"Only a failed delivery can be retried; this one is {delivery.status}")
    delivery.status = "pending"
    delivery.date_updated = utcnow()
    enqueue(session, WEBHOOK_JOB, {"delivery_sid": delivery.sid}, max_attempts=1)
    await session.flush()
    return delivery
