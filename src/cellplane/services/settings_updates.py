"""Settings updates: the platform's over-the-air changes to a SIM's settings packages (GET /SettingsUpdates).

There is no create in the API: the platform writes one when it changes what is on a SIM. Today that is
a SIM's first activation, which installs the base settings package: the update is `scheduled`, then
`successful` once the (emulated) network has carried it, paced like SIM updates.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from cellplane.domain import lifecycle
from cellplane.domain.caller import Caller
from cellplane.domain.ids import Prefix, new_sid
from cellplane.domain.paging import Page, PageSpec
from cellplane.services.context import PlatformContext
from cellplane.services.outbox import enqueue
from cellplane.store.models import SettingsUpdate, Sim
from cellplane.store.repositories import settings_updates as repo
from cellplane.store.repositories import sims as sim_repo

SETTINGS_UPDATE_JOB = "settings_update"
PRODUCT = "supersim"
STATUSES = ("scheduled", "in-progress", "successful", "failed")

# The packages a freshly activated Super SIM receives, in the shape of the spec's examples.
BASE_PACKAGES: list[dict[str, object]] = [
    {
        "name": "base-settings",
        "version": "1.0.0",
        "more_info": "https://twilio.com/docs/iot/supersim/settings-packages/base-settings",
    }
]


async def on_status_change(session: AsyncSession, ctx: PlatformContext, sim: Sim, now: datetime) -> None:
    """An update of `sim.status` completed: the first activation schedules the base settings."""
    if sim.status not in lifecycle.CONNECTABLE or sim.account_sid is None:
        return
    if await repo.exists_for_sim(session, sim.sid):
        return
    update = SettingsUpdate(
        sid=new_sid(Prefix.SETTINGS_UPDATE),
        account_sid=sim.account_sid,
        iccid=sim.iccid,
        sim_sid=sim.sid,
        status="scheduled",
        packages=[dict(package) for package in BASE_PACKAGES],
        date_created=now,
        date_updated=now,
    )
    session.add(update)
    enqueue(session, SETTINGS_UPDATE_JOB, {"settings_update_sid": update.sid}, delay=ctx.sim_update_delay)
    await session.flush()


async def complete(session: AsyncSession, ctx: PlatformContext, sid: str) -> SettingsUpdate | None:
    """The SIM confirmed the packages: the update is `successful` (a re-run is a no-op)."""
    update = await repo.get_for_update(session, sid)
    if update is None or update.status not in ("scheduled", "in-progress"):
        return None
    now = ctx.clock()
    update.status = "successful"
    update.date_completed = now
    update.date_updated = now
    await session.flush()
    return update


async def list_updates(
    session: AsyncSession,
    caller: Caller,
    spec: PageSpec,
    *,
    sim: str | None = None,
    status: str | None = None,
) -> Page[SettingsUpdate]:
    """The caller's updates, optionally of one SIM (by sid, unique name or ICCID) and in one status."""
    stmt = repo.list_query(caller.account_sid)
    if sim is not None:
        found = await sim_repo.find_visible(session, sim, [caller.account_sid], PRODUCT)
        if found is None and sim.isdigit():
            by_iccid = await sim_repo.by_iccid(session, sim)
            owned = by_iccid is not None and by_iccid.account_sid == caller.account_sid and by_iccid.product == PRODUCT
            found = by_iccid if owned else None
        if found is None:
            return Page(items=[], has_next=False, has_previous=False)
        stmt = stmt.where(SettingsUpdate.sim_sid == found.sid)
    if status is not None:
        stmt = stmt.where(SettingsUpdate.status == status)
    return await repo.page(session, stmt, spec)
