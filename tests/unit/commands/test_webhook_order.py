"""Webhooks of one resource arrive in the order they were made (jobs/webhooks.py): a delivery whose resource has an
older one still waiting for its first attempt waits (without spending an attempt), and stops waiting once the older
one has failed an attempt, so a receiver that is down does not hold back later events for minutes.

The sender and the runner are the real ones on a real database; only the HTTP transport is httpx's MockTransport.
"""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select, update

from cellplane.domain.callback_targets import TargetPolicy
from cellplane.domain.ids import Prefix, new_sid
from cellplane.jobs.runner import JobRunner, NotYet, RetryLater
from cellplane.jobs.webhooks import WebhookSender
from cellplane.services.context import PlatformContext
from cellplane.services.outbox import WEBHOOK_JOB, enqueue_webhook
from cellplane.store.models import Job, WebhookDelivery
from cellplane.store.models.base import utcnow


async def two_deliveries(ctx: PlatformContext) -> tuple[str, str]:
    """An older and a newer delivery of one (new) resource to one URL: their sids."""
    resource = new_sid(Prefix.ESIM_PROFILE)
    async with ctx.sessions() as session, session.begin():
        older = enqueue_webhook(
            session, account_sid="AC" + "1" * 32, event="esim_profile.reserving", url="http://127.0.0.1:9/esim",
            method="POST", params={"Status": "reserving"}, resource_sid=resource,
        )  # fmt: skip
        newer = enqueue_webhook(
            session, account_sid="AC" + "1" * 32, event="esim_profile.failed", url="http://127.0.0.1:9/esim",
            method="POST", params={"Status": "failed"}, resource_sid=resource,
        )  # fmt: skip
        older.date_created = utcnow() - timedelta(milliseconds=5)
    return older.sid, newer.sid


def sender_for(client: httpx.AsyncClient) -> WebhookSender:
    return WebhookSender(client, max_attempts=3, targets=TargetPolicy(allow_private=True))


async def test_the_newer_delivery_waits_for_the_older_ones_first_attempt(ctx: PlatformContext) -> None:
    arrived: list[str] = []

    def receiver(request: httpx.Request) -> httpx.Response:
        arrived.append(request.content.decode())
        return httpx.Response(204)

    older, newer = await two_deliveries(ctx)
    async with httpx.AsyncClient(transport=httpx.MockTransport(receiver)) as client:
        send = sender_for(client)
        with pytest.raises(NotYet):
            await send(ctx, {"delivery_sid": newer})
        assert arrived == []
        await send(ctx, {"delivery_sid": older})
        await send(ctx, {"delivery_sid": newer})
    assert arrived == ["Status=reserving", "Status=failed"]


async def test_a_failing_older_delivery_does_not_hold_the_newer_back(ctx: PlatformContext) -> None:
    answers = iter([503, 204])
    older, newer = await two_deliveries(ctx)
    async with httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(next(answers)))) as client:
        send = sender_for(client)
        with pytest.raises(RetryLater):
            await send(ctx, {"delivery_sid": older})
        await send(ctx, {"delivery_sid": newer})  # the older one is retrying: no wait
    async with ctx.sessions() as session:
        row = await session.get(WebhookDelivery, newer)
    assert row is not None and row.status == "delivered"


async def test_waiting_spends_none_of_the_jobs_attempts(ctx: PlatformContext) -> None:
    async with ctx.sessions() as session, session.begin():  # the earlier tests' jobs (the database is the module's)
        await session.execute(update(Job).where(Job.kind == WEBHOOK_JOB).values(status="done"))
    await two_deliveries(ctx)
    runner = JobRunner(ctx, {WEBHOOK_JOB: lambda c, p: _wait()}, lease_seconds=30)
    claimed = await runner.claim(10)
    assert len(claimed) == 2 and all(job.attempts == 1 for job in claimed)
    for job in claimed:
        await runner._run(job)
    async with ctx.sessions() as session:
        jobs = (await session.execute(select(Job).where(Job.id.in_([j.id for j in claimed])))).scalars().all()
    assert [(job.status, job.attempts) for job in jobs] == [("pending", 0), ("pending", 0)]
    assert all(job.run_at > utcnow() for job in jobs)


async def _wait() -> None:
    raise NotYet("an older delivery goes first", delay=5)
