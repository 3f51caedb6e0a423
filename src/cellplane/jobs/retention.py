"""Job handler: the periodic retention purge (30 days), in short batches, rescheduling itself.

Idempotent: deleting what is already gone deletes nothing, and the next run is added only if none is
waiting, so a re-run after a crash neither fails nor starts a second chain of purges. One node at a time
(issue 21): the purge holds the `retention` singleton lease, and each batch commits only while it holds it.
"""

from __future__ import annotations

import logging
from typing import Any

from cellplane.jobs.singleton import LeaseLost, Singleton
from cellplane.services import retention
from cellplane.services.context import PlatformContext

log = logging.getLogger("cellplane.jobs")


class RetentionPurge:
    def __init__(self, interval: float = 3600.0, max_batches: int = 100, lease_seconds: float = 60.0) -> None:
        self.interval = interval
        self.max_batches = max_batches  # the rest waits for the next run, so one run never holds a worker long
        self.lease_seconds = lease_seconds

    async def __call__(self, ctx: PlatformContext, payload: dict[str, Any]) -> None:
        lease = Singleton(ctx, retention.RETENTION_JOB, lease_seconds=self.lease_seconds)
        if await lease.acquire() is None:
            log.info("retention purge: another node is purging; this run only schedules the next")
        else:
            try:
                await self._purge(ctx, lease)
            except LeaseLost:
                log.warning("retention purge: the lease lapsed mid-run; the next run finishes the work")
            finally:
                await lease.release()
        async with ctx.sessions() as session, session.begin():
            await retention.schedule_next(session, self.interval)

    async def _purge(self, ctx: PlatformContext, lease: Singleton) -> None:
        now = ctx.clock()
        for _ in range(self.max_batches):
            async with lease.fenced() as session:
                purged = await retention.purge_batch(session, now)
            if purged != retention.Purged():
                log.info("retention purge: %s", purged)
            if not purged.more:
                break
