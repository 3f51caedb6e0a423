"""Job leases (issue 21): a live runner renews the lease of a slow job, so a second runner on the same table does
not take it; a claim whose lease lapsed and was taken over writes nothing (its outcome is refused and counted)."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import select, update

from cellplane.jobs.runner import JobRunner
from cellplane.services.context import PlatformContext
from cellplane.services.metrics import STALE_WRITES
from cellplane.store.models import Job

LEASE = 1.0  # renewed every third of it: room for a loaded machine


async def test_a_slow_job_on_a_live_runner_keeps_its_lease(ctx: PlatformContext) -> None:
    runs: list[str] = []

    def handler(name: str, pause: float) -> Any:
        async def run(_ctx: PlatformContext, payload: dict[str, Any]) -> None:
            runs.append(name)
            await asyncio.sleep(pause)

        return run

    async with ctx.sessions() as session, session.begin():
        session.add(Job(kind="lease-slow", payload={}))
    slow = JobRunner(ctx, {"lease-slow": handler("slow", 4 * LEASE)}, poll_interval=0.05, lease_seconds=LEASE)
    slow.start()
    while not runs:
        await asyncio.sleep(0.02)
    other = JobRunner(ctx, {"lease-slow": handler("other", 0)}, poll_interval=0.05, lease_seconds=LEASE)
    other.start()
    await asyncio.sleep(5 * LEASE)
    await other.stop()
    await slow.stop()
    async with ctx.sessions() as session:
        job = (await session.execute(select(Job).where(Job.kind == "lease-slow"))).scalar_one()
    assert runs == ["slow"] and (job.status, job.claim_epoch) == ("done", 1)


async def test_a_lapsed_claim_taken_over_writes_nothing(ctx: PlatformContext) -> None:
    async with ctx.sessions() as session, session.begin():
        session.add(Job(kind="lease-stale", payload={}))
    first = JobRunner(ctx, {"lease-stale": lambda _c, _p: asyncio.sleep(0)}, lease_seconds=60)
    [claimed] = await first.claim(1)
    async with ctx.sessions() as session, session.begin():  # its lease lapses (the node was paused)
        await session.execute(update(Job).where(Job.id == claimed.id).values(locked_until=claimed.run_at))
    [again] = await JobRunner(ctx, {"lease-stale": lambda _c, _p: asyncio.sleep(0)}).claim(1)
    assert (again.id, again.claim_epoch) == (claimed.id, claimed.claim_epoch + 1)
    seen: list[tuple[int, str, bool]] = []
    first.observers.append(lambda job, status, applied: seen.append((job.claim_epoch, status, applied)))
    refused = STALE_WRITES.child("job", "lease-stale").value

    await first._run(claimed)  # the paused runner wakes up and finishes its (old) claim

    assert seen == [(claimed.claim_epoch, "done", False)]
    assert STALE_WRITES.child("job", "lease-stale").value == refused + 1
    async with ctx.sessions() as session:
        job = await session.get(Job, claimed.id)
    assert job is not None and (job.status, job.claim_epoch) == ("running", again.claim_epoch)
