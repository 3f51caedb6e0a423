"""The sweep of dead gateways' sessions (services/gateway_leases.py), run by workers nodes, one at a time: each
pass holds the `gateway-sweep` singleton lease and commits only while its epoch holds it (jobs/singleton.py)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from cellplane.jobs.singleton import LeaseLost, Singleton
from cellplane.services import gateway_leases
from cellplane.services.context import PlatformContext

log = logging.getLogger("cellplane.jobs")


class GatewaySweep:
    """Every `interval` seconds: if this node holds (or can take) the sweep's lease, close lapsed gateways'
    sessions."""

    def __init__(self, ctx: PlatformContext, interval: float = 2.0) -> None:
        self.ctx = ctx
        self.interval = interval
        self.lease = Singleton(ctx, gateway_leases.SWEEP, lease_seconds=max(10.0, 3 * interval))
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="gateway-sweep")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(Exception):
            await self.lease.release()

    async def sweep_once(self) -> dict[str, int]:
        """One pass: what was closed, by NAS-Identifier (empty when another node holds the sweep)."""
        if self.lease.epoch is None and await self.lease.acquire() is None:
            return {}
        try:
            async with self.lease.fenced() as session:
                closed = await gateway_leases.close_lapsed(session, self.ctx.clock())
        except LeaseLost:
            self.lease.epoch = None
            return {}
        for nas_id, count in closed.items():
            log.warning("gateway %s let its lease lapse: %d open sessions closed (Lost-Service)", nas_id, count)
        return closed

    async def _run(self) -> None:
        while True:
            try:
                await self.sweep_once()
            except Exception:
                log.exception("gateway sweep failed; trying again")
            await asyncio.sleep(self.interval)
