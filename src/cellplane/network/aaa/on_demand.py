"""Loading SIM snapshots the bounded policy cache does not hold, when a request needs one.

A request for an IMSI that is not cached waits for its snapshot; the IMSIs asked for while a load is in the
database wait together for the next one, so a burst of misses costs one query set, not one per SIM, and concurrent
misses for one IMSI share its load. What a load finds is handed to `store` (the AAA core), which leaves alone an
IMSI that a fresher snapshot reached meanwhile (a change notification, a hook). A load that fails (the database is
unreachable) resolves its waiters with False: they drop their request and the NAS's retransmission tries again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection

from cellplane.domain.policy import SimPolicy

from . import metrics

log = logging.getLogger("cellplane.aaa.on_demand")

Load = Callable[[Collection[str]], Awaitable[dict[str, SimPolicy | None]]]


class OnDemandLoader:
    def __init__(self, load: Load, store: Callable[[str, SimPolicy | None], None], batch_max: int = 2000) -> None:
        self._load = load
        self._store = store
        self.batch_max = batch_max
        self._waiting: dict[str, asyncio.Future[bool]] = {}
        self._queued: list[str] = []
        self._task: asyncio.Task[None] | None = None
        self.loads = 0

    def loading(self, imsi: str) -> bool:
        """Whether a load of this IMSI is queued or in the database (a change to it must not be lost meanwhile)."""
        return imsi in self._waiting

    def pending(self) -> list[str]:
        """The IMSIs queued or being loaded."""
        return list(self._waiting)

    def fetch(self, imsi: str) -> asyncio.Future[bool]:
        """A future that becomes True once the IMSI's snapshot (or its absence) is in the cache, False if the load
        failed."""
        future = self._waiting.get(imsi)
        if future is None:
            future = asyncio.get_running_loop().create_future()
            self._waiting[imsi] = future
            self._queued.append(imsi)
            metrics.POLICY_MISSES.inc()
            if self._task is None:
                self._task = asyncio.create_task(self._run(), name="aaa-policy-on-demand")
        return future

    async def _run(self) -> None:
        try:
            while self._queued:
                batch = self._queued[: self.batch_max]
                del self._queued[: len(batch)]
                try:
                    found: dict[str, SimPolicy | None] | None = await self._load(batch)
                except Exception:
                    log.exception("loading %d SIM policies failed; their requests wait for retransmission", len(batch))
                    found = None
                self.loads += 1
                for imsi in batch:
                    future = self._waiting.pop(imsi)
                    if found is not None:
                        try:
                            self._store(imsi, found.get(imsi))
                        except Exception:
                            log.exception("storing the snapshot of %s failed", imsi)
                    if not future.done():
                        future.set_result(found is not None)
        finally:
            self._task = None

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
        for future in self._waiting.values():
            if not future.done():
                future.set_result(False)
        self._waiting.clear()
        self._queued.clear()
