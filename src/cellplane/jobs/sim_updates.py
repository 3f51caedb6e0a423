"""Job handler: complete a scheduled SIM update once the (emulated) network has taken it.

The same `sim_update` job carries the lifecycle's timed transitions (action "automatic") and the
Wireless connectivity reset (action "reset"); a plain job completes a status/fleet update, of one SIM
(`sim_sid`) or of a bulk action's batch (`sim_sids`).
"""

from __future__ import annotations

from typing import Any

from cellplane.services import sims, wireless_sims
from cellplane.services.context import PlatformContext


async def complete_sim_update(ctx: PlatformContext, payload: dict[str, Any]) -> None:
    action = payload.get("action")
    async with ctx.sessions() as session, session.begin():
        if "sim_sids" in payload:  # a bulk action's chunk of state changes: completed together
            await sims.complete_updates(session, ctx, [str(sid) for sid in payload["sim_sids"]])
        elif action == sims.AUTOMATIC_ACTION:
            await sims.complete_automatic(session, ctx, str(payload["sim_sid"]), str(payload.get("from")))
        elif action == wireless_sims.RESET_ACTION:
            await wireless_sims.complete_reset(session, ctx, str(payload["sim_sid"]))
        else:
            await sims.complete_update(session, ctx, str(payload["sim_sid"]))
    ctx.wake_workers()
