"""Billing periods of a Super SIM: opened and closed as its status changes, materialized lazily up to now.

The rules (seed 004, Sim resource and its transfer notes):
- new -> ready opens a `ready` period of three months; leaving `ready` ends it at that moment.
- becoming `active` starts monthly `active` periods at that moment, unless the SIM's latest active
  period is still running (a SIM reactivated before its period expired re-uses it, even on a new
  account); an expired one is not revived: a new series starts at the reactivation.
- while a SIM stays active, the following months' periods exist without anyone writing them at the
  turn of the month: whoever needs them (the list, AAA's data-limit check) materializes them first.
- a period belongs to the account that owned the SIM when it was opened; the list shows the
  caller's, so a transferred SIM shows nothing until a period opens on the new account.

Known approximation: the previous status of a completed update is not recorded, so an active SIM
whose periods were not materialized for over a month and then completes a fleet change starts a
new series at that moment. AAA calls `current_period` on every session, which keeps live SIMs current.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from cellplane.domain import billing as rules
from cellplane.domain.ids import Prefix, new_sid
from cellplane.domain.paging import Page, PageSpec
from cellplane.store.models import BillingPeriod, Sim
from cellplane.store.repositories import billing as repo
from cellplane.store.repositories import sims as sim_repo


async def on_status_change(session: AsyncSession, sim: Sim, now: datetime) -> None:
    """An update of `sim.status` completed at `now` (called from services.sims.complete_update)."""
    await repo.lock_sim(session, sim.sid)
    if sim.status == rules.READY:
        if await repo.latest(session, sim.sid, rules.READY) is None:
            _add(session, sim, rules.ready_period(now), rules.READY)
    elif sim.status == rules.ACTIVE:
        await _close_ready(session, sim.sid, now)
        await _activate(session, sim, now)
    elif sim.status == "inactive":
        await _close_ready(session, sim.sid, now)
        # Active until this moment: its periods up to now are real, and a reactivation may re-use the last.
        await _extend(session, sim, now)
    await session.flush()


async def materialize(session: AsyncSession, sim: Sim, now: datetime) -> None:
    """Make sure the periods an active (or ready) SIM has had up to `now` exist."""
    if sim.status == rules.ACTIVE:
        if await repo.latest(session, sim.sid, rules.ACTIVE) is None:
            # Activated by a path that did not report here: start where the ready period ended.
            await repo.lock_sim(session, sim.sid)
            ready = await repo.latest(session, sim.sid, rules.READY)
            start = sim.date_activated or now
            if ready is not None:
                start = min(ready.end_time, now)
                await _close_ready(session, sim.sid, start)
            if await repo.latest(session, sim.sid, rules.ACTIVE) is None:
                _add(session, sim, rules.first_active_period(start), rules.ACTIVE)
                await session.flush()
        await _extend(session, sim, now)
    elif sim.status == rules.READY and await repo.latest(session, sim.sid, rules.READY) is None:
        await repo.lock_sim(session, sim.sid)
        if await repo.latest(session, sim.sid, rules.READY) is None:
            _add(session, sim, rules.ready_period(sim.date_activated or now), rules.READY)
            await session.flush()


async def current_period(session: AsyncSession, sim: Sim, now: datetime) -> BillingPeriod | None:
    """The period in force for `sim` at `now` (for the data limit), whichever account it is billed to.

    An inactive SIM keeps its last period until it expires: usage in it still counts toward the
    data limit if the SIM is reactivated in time (seed 004, "Date Limit").
    """
    await materialize(session, sim, now)
    return await repo.covering(session, sim.sid, now)


async def list_periods(session: AsyncSession, sim: Sim, spec: PageSpec, now: datetime) -> Page[BillingPeriod]:
    """GET /Sims/{SimSid}/BillingPeriods: the SIM's periods on its current account, oldest first."""
    if sim.account_sid is None:
        return Page(items=[], has_next=False, has_previous=False)
    await materialize(session, sim, now)
    return await repo.page(session, repo.list_query(sim.account_sid, sim.sid), spec)


async def _activate(session: AsyncSession, sim: Sim, now: datetime) -> None:
    last = await repo.latest(session, sim.sid, rules.ACTIVE)
    if last is not None and _span(last).covers(now):
        return
    _add(session, sim, rules.first_active_period(now), rules.ACTIVE)


async def _close_ready(session: AsyncSession, sim_sid: str, now: datetime) -> None:
    """End an open ready period at `now` (one that lasted under a second shows start == end)."""
    ready = await repo.latest(session, sim_sid, rules.READY)
    if ready is None or ready.end_time <= now:
        return
    ready.end_time = max(rules.truncate(now), ready.start_time)
    ready.date_updated = now


async def _extend(session: AsyncSession, sim: Sim, now: datetime) -> None:
    """Write the missing monthly periods after the latest active one, up to the one covering `now`."""
    last = await repo.latest(session, sim.sid, rules.ACTIVE)
    if last is None or last.end_time > now:
        return
    await repo.lock_sim(session, sim.sid)
    last = await repo.latest(session, sim.sid, rules.ACTIVE)
    assert last is not None
    for span in rules.periods_through(_span(last), now):
        _add(session, sim, span, rules.ACTIVE)
    await session.flush()


def _add(session: AsyncSession, sim: Sim, span: rules.Span, period_type: str) -> BillingPeriod:
    assert sim.account_sid is not None
    period = BillingPeriod(
        sid=new_sid(Prefix.BILLING_PERIOD),
        account_sid=sim.account_sid,
        sim_sid=sim.sid,
        start_time=span.start,
        end_time=span.end,
        period_type=period_type,
    )
    session.add(period)
    return period


def _span(period: BillingPeriod) -> rules.Span:
    return rules.Span(period.start_time, period.end_time)


async def activate_by_rule(session: AsyncSession, sim: Sim, now: datetime) -> bool:
    """Seed 004: a `ready` SIM that met the rule (250 KB, 5 SMS, 3 months) is `active` from `now`.

    The one place both the data path (AAA accounting) and the SMS path flip the status, so their
    billing periods follow the same way. Returns whether the SIM changed.
    """
    if sim.status != "ready":
        return False
    # Conditional on `ready`: an update the API accepted meanwhile (ready -> scheduled) wins, and is not undone.
    activated: dict[str, object] = {"status": "active", "date_updated": now}
    if sim.date_activated is None:
        activated["date_activated"] = now
    if not await sim_repo.write_if(session, sim, {"status": "ready"}, **activated):
        return False
    await on_status_change(session, sim, now)
    return True
