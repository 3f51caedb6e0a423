"""A gateway node's lease (services/gateway_leases.py): taken before the gateway serves, renewed every third of
its time, given back after the gateway has stopped (and sent its Accounting-Stops). A node that dies stops
renewing; once the lease lapses a workers node closes its sessions (jobs/gateway_sweep.py)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from cellplane.jobs.singleton import holder_name
from cellplane.services import gateway_leases
from cellplane.services.context import PlatformContext

log = logging.getLogger("cellplane.gateway")


class GatewayLease:
    def __init__(self, ctx: PlatformContext, nas_id: str, holder: str, seconds: float = 30.0) -> None:
        self.ctx = ctx
        self.nas_id = nas_id
        self.holder = holder or holder_name()
        self.seconds = seconds
        self.epoch: int | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._take()
        if self.epoch is None:
            log.error("gateway %s: its lease is held by another process (the same NAS-Identifier?)", self.nas_id)
        self._task = asyncio.create_task(self._run(), name="gateway-lease")

    async def _take(self) -> None:
        async with self.ctx.sessions() as session, session.begin():
            self.epoch = await gateway_leases.take(session, self.nas_id, self.holder, self.seconds)

    async def renew(self) -> None:
        if self.epoch is None:
            await self._take()
            return
        async with self.ctx.sessions() as session, session.begin():
            held = await gateway_leases.renew(session, self.nas_id, self.epoch, self.seconds)
        if not held:
            # Lapsed (this process was paused or cut off): its sessions may have been closed by the sweep.
            log.warning("gateway %s: lease epoch %d lapsed; taking it again", self.nas_id, self.epoch)
            self.epoch = None
            await self._take()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.seconds / 3)
            try:
                await self.renew()
            except Exception:  # the database away: try again next round (the lease may lapse meanwhile)
                log.exception("gateway %s: renewing the lease failed", self.nas_id)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.epoch is not None:
            with contextlib.suppress(Exception):
                async with self.ctx.sessions() as session, session.begin():
                    await gateway_leases.give_back(session, self.nas_id, self.epoch)
            self.epoch = None
