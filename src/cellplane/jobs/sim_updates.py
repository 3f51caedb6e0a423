"""Job handler: complete a scheduled SIM update once the (emulated) network has taken it."""

from __future__ import annotations

from typing import Any

from cellplane.services import sims
from cellplane.services.context import PlatformContext


async def complete_sim_update(ctx: PlatformContext, payload: dict[str, Any]) -> None:
    async with ctx.sessions() as session, session.begin():
        await sims.complete_update(session, ctx, str(payload["sim_sid"]))
    ctx.wake_workers()
