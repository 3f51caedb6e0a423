"""Job handler: the periodic retention purge (30 days), in short batches, rescheduling itself.

Idempotent: deleting what is already gone deletes nothing, and the next run is added only if none is
waiting, so a re-run after a crash neither fails nor starts a second chain of purges.
"""

from __future__ import annotations

import logging
from typing import Any

from cellplane.services import retention
from cellplane.services.context import PlatformContext

log = logging.getLogger("cellplane.jobs")


class RetentionPurge:
    def __init__(self, interval: float = 3600.0, max_batches: int = 100) -> None:
        self.interval = interval
        self.max_batches = max_batches  # the rest waits for the next run, so one run never holds a worker long

    async def __call__(self, ctx: PlatformContext, payload: dict[str, Any]) -> None:
        now = ctx.clock()
        for _ in range(self.max_batches):
            async with ctx.sessions() as session, session.begin():
                purged = await retention.purge_batch(session, now)
            if purged != retention.Purged():
                log.info("retention purge: %s", purged)
            if not purged.more:
                break
        async with ctx.sessions() as session, session.begin():
            await retention.schedule_next(session, self.interval)
