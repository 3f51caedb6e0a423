"""What each SMS to or from a SIM counts toward: its hourly usage bucket and, for a `ready` SIM, becoming `active`.

Seed 004: a `ready` SIM becomes `active` by itself once five SMS Commands have been sent to or received from
it (the 250 KB of data are counted by the AAA, services/data_sessions.py). The activation does what a
completed status update does (services/sims.complete_update): billing periods and the first settings
update follow, and the AAA hears of it through the `sim_status_changed` hook.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from cellplane.domain import sms_commands as rules
from cellplane.services import billing, settings_updates, sims
from cellplane.services.context import PlatformContext
from cellplane.store.models import Sim
from cellplane.store.repositories import sms_commands as repo


async def count_sms(session: AsyncSession, ctx: PlatformContext, sim: Sim, *, to_sim: bool, now: datetime) -> None:
    """One SMS sent to (`to_sim`) or received from the SIM at `now`."""
    network = await repo.serving_network(session, sim.sid)
    hour = now.replace(minute=0, second=0, microsecond=0)
    await repo.add_sms_usage(session, sim, network, hour, to_sim=int(to_sim), from_sim=int(not to_sim))
    counted = await repo.add_ready_sms(session, sim.sid)
    if counted is not None and counted >= rules.READY_ACTIVATION_SMS:
        await activate(session, ctx, sim, now)


async def activate(session: AsyncSession, ctx: PlatformContext, sim: Sim, now: datetime) -> None:
    """A `ready` SIM has met the rule: it is `active` from `now`."""
    if not await billing.activate_by_rule(session, sim, now):
        return
    await settings_updates.on_status_change(session, ctx, sim, now)
    await sims.announce(session, ctx, sim)
