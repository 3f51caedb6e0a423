"""Deletes for the retention purge: old commands, finished webhook deliveries with their attempts, old jobs.

Each call removes at most `limit` rows of one kind, so a purge is many short transactions rather than one
long lock. Sids are time-ordered (domain/ids.py), so `sid < floor` finds old rows through the primary key;
`date_created` keeps the rule exact.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from cellplane.store.models import IpCommand, Job, SmsCommand, WebhookAttempt, WebhookDelivery, WirelessCommand

FINISHED_JOBS = ("done", "dead")


async def delete_commands(
    session: AsyncSession,
    model: type[IpCommand] | type[SmsCommand] | type[WirelessCommand],
    sid_floor: str,
    cutoff: datetime,
    limit: int,
) -> int:
    stmt = select(model.sid).where(model.sid < sid_floor, model.date_created < cutoff).limit(limit)
    sids = list((await session.execute(stmt)).scalars())
    if sids:
        await session.execute(delete(model).where(model.sid.in_(sids)))
    return len(sids)


async def delete_webhooks(session: AsyncSession, sid_floor: str, cutoff: datetime, limit: int) -> int:
    """Deliveries no longer in flight (delivered, or failed for good), and every attempt of each."""
    stmt = (
        select(WebhookDelivery.sid)
        .where(
            WebhookDelivery.sid < sid_floor,
            WebhookDelivery.date_created < cutoff,
            WebhookDelivery.status != "pending",
        )
        .limit(limit)
    )
    sids = list((await session.execute(stmt)).scalars())
    if sids:
        await session.execute(delete(WebhookAttempt).where(WebhookAttempt.delivery_sid.in_(sids)))
        await session.execute(delete(WebhookDelivery).where(WebhookDelivery.sid.in_(sids)))
    return len(sids)


async def delete_finished_jobs(session: AsyncSession, cutoff: datetime, limit: int) -> int:
    stmt = select(Job.id).where(Job.status.in_(FINISHED_JOBS), Job.run_at < cutoff).limit(limit)
    ids = list((await session.execute(stmt)).scalars())
    if ids:
        await session.execute(delete(Job).where(Job.id.in_(ids)))
    return len(ids)


async def job_scheduled(session: AsyncSession, kind: str, statuses: tuple[str, ...]) -> bool:
    """Whether a job of `kind` is in one of `statuses` (the status index narrows it to the live jobs)."""
    stmt = select(Job.id).where(Job.status.in_(statuses), Job.kind == kind).limit(1)
    return (await session.execute(stmt)).first() is not None
