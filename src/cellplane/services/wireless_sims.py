"""Programmable Wireless Sim use cases on the shared SIM engine: list, fetch, update, delete, connectivity reset.

Wireless SIMs are `sims` rows with product "wireless". Status changes go through the one lifecycle
(`domain/lifecycle.py`: stored names, Wireless names on the wire) and the same asynchronous path as
Super SIM updates (`services.sims.complete_update` via the `sim_update` job), which calls the SIM's
callback. Rules and error codes follow the hosted Sim resource and its errors (33101, 33104, 33105,
33108, 33121, 33201).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from cellplane.domain import lifecycle
from cellplane.domain.caller import Caller
from cellplane.domain.errors import ConcurrentChange, InvalidParameter, InvalidTransition, Unauthorized
from cellplane.domain.ids import Prefix, is_sid
from cellplane.domain.paging import Page, PageSpec
from cellplane.services import sims, unique_names
from cellplane.services.context import PlatformContext
from cellplane.services.outbox import enqueue
from cellplane.store.models import DataSession, RatePlan, Sim
from cellplane.store.models.base import utcnow
from cellplane.store.repositories import data_sessions as session_repo
from cellplane.store.repositories import rate_plans as plan_repo
from cellplane.store.repositories import sims as repo

PRODUCT = "wireless"
RESET_ACTION = "reset"
RESETTING = "resetting"
_UNCHANGED = object()

# The callback URL/method pairs of the Sim resource: (URL attribute, method attribute).
URL_FIELDS = (
    ("callback_url", "callback_method"),
    ("commands_callback_url", "commands_callback_method"),
    ("sms_url", "sms_method"),
    ("sms_fallback_url", "sms_fallback_method"),
    ("voice_url", "voice_method"),
    ("voice_fallback_url", "voice_fallback_method"),
)


@dataclass
class SimChange:
    """The parameters of POST /Sims/{Sid}; None = not given, "" clears a URL, a name or the rate plan."""

    unique_name: str | None = None
    friendly_name: str | None = None
    rate_plan: str | None = None
    status: str | None = None
    reset_status: str | None = None
    account_sid: str | None = None
    # URL/method pairs by the Sim's attribute names (see URL_FIELDS).
    urls: dict[str, str | None] | None = None


async def fetch(session: AsyncSession, caller: Caller, key: str) -> Sim:
    return await sims.fetch(session, caller, key, PRODUCT)


async def list_sims(
    session: AsyncSession,
    caller: Caller,
    spec: PageSpec,
    *,
    status: str | None = None,
    iccid: str | None = None,
    rate_plan: str | None = None,
    eid: str | None = None,
    registration_code: str | None = None,
) -> Page[Sim]:
    empty: Page[Sim] = Page(items=[], has_next=False, has_previous=False)
    stmt = repo.list_query(await sims.listed_accounts(session, caller), PRODUCT)
    if status is not None:
        if status == "scheduled":
            return empty  # never entered here (see domain/lifecycle.py)
        stmt = stmt.where(Sim.status == lifecycle.stored_name(status))
    if iccid is not None:
        stmt = stmt.where(Sim.iccid == iccid)
    if eid is not None:
        stmt = stmt.where(Sim.eid == eid)
    if registration_code is not None:
        stmt = stmt.where(Sim.registration_code == registration_code)
    if rate_plan is not None:
        plan = await plan_repo.find(session, caller.account_sid, rate_plan)
        if plan is None:
            return empty
        stmt = stmt.where(Sim.rate_plan_sid == plan.sid)
    return await repo.page(session, stmt, spec)


async def update(
    session: AsyncSession, ctx: PlatformContext, caller: Caller, key: str, change: SimChange
) -> tuple[Sim, bool]:
    """Apply an update; returns the SIM and whether part of it completes asynchronously (202).

    Everything is checked before anything is written, so a refused request changes nothing.
    """
    sim = await fetch(session, caller, key)
    if change.status is not None and change.reset_status is not None:
        raise InvalidParameter(
            "ResetStatus", "Status and ResetStatus cannot be updated in the same request", code=33121
        )
    target_account = sim.account_sid or caller.account_sid
    if change.account_sid is not None and change.account_sid != sim.account_sid:
        target_account = await _check_transfer(session, caller, sim, change.account_sid)
    new_plan = await _resolve_plan(session, sim, target_account, change.rate_plan)
    plan_sid = sim.rate_plan_sid
    if new_plan is not _UNCHANGED:
        plan_sid = new_plan.sid if isinstance(new_plan, RatePlan) else None
    target = await _check_status(session, sim, change, new_plan, plan_sid)
    if change.reset_status is not None and sim.status not in lifecycle.CONNECTABLE:
        raise InvalidParameter("ResetStatus", "Only a ready or active Sim can have its connectivity reset", code=33101)
    if change.unique_name:
        await unique_names.check(
            "Sim",
            change.unique_name,
            lambda name: repo.unique_name_taken(session, target_account, name, sim.sid),
            code=33101,
        )

    seen = {"status": sim.status, "account_sid": sim.account_sid, "reset_status": sim.reset_status}
    if change.unique_name is not None:
        sim.unique_name = change.unique_name or None
    if change.friendly_name is not None:
        sim.friendly_name = change.friendly_name or None
    for url_attr, method_attr in URL_FIELDS:
        _set_url(sim, url_attr, method_attr, change.urls or {})
    state: dict[str, object] = {}
    if target_account != sim.account_sid:
        state["account_sid"] = target_account
    if plan_sid != sim.rate_plan_sid:
        state["rate_plan_sid"] = plan_sid
    schedules = target is not None and target != sim.status
    is_async = schedules
    if schedules:
        # The network takes the change; `updating` until complete_update applies it and calls back.
        state.update(pending_status=target, pending_fleet_set=False, pending_fleet_sid=None, status=lifecycle.IN_FLIGHT)
    resets = change.reset_status is not None and sim.reset_status != RESETTING
    if resets:
        state["reset_status"] = RESETTING
    if change.reset_status is not None:
        is_async = True
    # One conditional write for the lifecycle's state: of two changes read from the same row, the second is refused.
    if state and not await repo.write_if(session, sim, seen, **state):
        raise ConcurrentChange(
            "The Sim changed while this update was being made; fetch it and retry", code=33105, parameter="Status"
        )
    if schedules:
        enqueue(session, sims.SIM_UPDATE_JOB, {"sim_sid": sim.sid}, delay=ctx.sim_update_delay)
    if resets:
        payload = {"sim_sid": sim.sid, "action": RESET_ACTION}
        enqueue(session, sims.SIM_UPDATE_JOB, payload, delay=ctx.sim_update_delay)
    sim.date_updated = utcnow()
    await unique_names.flush(session, "Sim", change.unique_name, code=33101)
    return sim, is_async


async def complete_reset(session: AsyncSession, ctx: PlatformContext, sim_sid: str) -> Sim | None:
    """The connectivity reset: the network core disconnects the SIM's sessions (hooks) and it re-attaches.

    Each `sim_reset` hook gets the Sim (an awaitable result is awaited): the AAA's (network/aaa/server.py) sends each
    live session a Disconnect-Request asking for a new one, and the device attaches again (docs/NETWORK.md). With
    none registered the reset completes at once. A re-run after completion is a no-op.
    """
    sim = await session.get(Sim, sim_sid)
    if sim is None or sim.reset_status != RESETTING:
        return None
    for hook in ctx.hooks.get("sim_reset", []):
        result = hook(sim)
        if inspect.isawaitable(result):
            await result
    sim.reset_status = None
    sim.date_updated = ctx.clock()
    sims.notify(session, sim)
    await session.flush()
    return sim


async def delete(session: AsyncSession, ctx: PlatformContext, caller: Caller, key: str) -> None:
    """DELETE /Sims/{Sid}: the SIM leaves the account and goes back to the operator's inventory."""
    sim = await fetch(session, caller, key)
    if sim.status == lifecycle.IN_FLIGHT:
        raise InvalidTransition("The Sim is updating; retry when the update completes", code=33105)
    # Conditional on what was read: an update accepted meanwhile is not silently wiped out.
    seen = {"status": sim.status, "account_sid": sim.account_sid}
    if not await repo.write_if(session, sim, seen, account_sid=None, status="new"):
        raise ConcurrentChange("The Sim changed while it was being deleted; fetch it and retry", code=33105)
    sim.unique_name = sim.friendly_name = sim.rate_plan_sid = sim.reset_status = None
    for url_attr, method_attr in URL_FIELDS:
        setattr(sim, url_attr, None)
        setattr(sim, method_attr, None)
    sim.fleet_sid = sim.pending_status = sim.pending_fleet_sid = None
    sim.pending_fleet_set = False
    sim.claimed_at = sim.date_activated = None
    sim.ready_bytes = sim.ready_sms = 0
    sim.date_updated = utcnow()
    # The network drops whatever it held for the SIM (a live session ends: the SIM is no longer connectable).
    await sims.announce(session, ctx, sim)


async def ip_address(session: AsyncSession, sim: Sim) -> str | None:
    """The address of the SIM's live data session, if it has one."""
    addresses = await session_repo.open_session_addresses(session, sim.sid)
    return addresses[0] if addresses else None


async def list_data_sessions(session: AsyncSession, caller: Caller, key: str, spec: PageSpec) -> Page[DataSession]:
    """The SIM's data sessions newest first, those of the account that owns it now."""
    sim = await fetch(session, caller, key)
    return await session_repo.list_for_sim(session, sim.sid, spec, account_sid=sim.account_sid)


async def _check_transfer(session: AsyncSession, caller: Caller, sim: Sim, target: str) -> str:
    """Hosted error 33201: only a `new` SIM moves, only to the caller or its subaccounts, by the parent."""
    if not is_sid(target, Prefix.ACCOUNT):
        raise InvalidParameter("AccountSid", "AccountSid must be an Account sid (AC followed by 32 hex digits)")
    if caller.parent_sid is not None:
        raise Unauthorized("Only the parent account can move Sims between accounts", code=33201)
    if target not in await sims.visible_accounts(session, caller):
        raise Unauthorized("A Sim can only move to the requesting account or one of its subaccounts", code=33201)
    if sim.status != "new":
        raise Unauthorized("Only a Sim in status new can move to another account", code=33201)
    return target


async def _resolve_plan(session: AsyncSession, sim: Sim, account_sid: str, key: str | None) -> object:
    """The RatePlan asked for (None to remove it), or _UNCHANGED; hosted error 33108 when it is not found."""
    if key is None:
        if account_sid != sim.account_sid and sim.rate_plan_sid is not None:
            raise InvalidParameter(
                "RatePlan", "A Sim moving to another account needs a RatePlan of that account", code=33108
            )
        return _UNCHANGED
    if key == "":
        return None
    plan = await plan_repo.find(session, account_sid, key, lock="share")
    if plan is None:
        raise InvalidParameter("RatePlan", f"RatePlan {key} was not found in account {account_sid}", code=33108)
    return plan


async def _check_status(
    session: AsyncSession, sim: Sim, change: SimChange, new_plan: object, plan_sid: str | None
) -> str | None:
    """The stored status the update asks for (None when not asked), after the rate plan rules."""
    target = lifecycle.check_wireless_transition(sim.status, change.status) if change.status is not None else None
    effective = target or sim.status
    if target is not None and change.status in lifecycle.NEEDS_RATE_PLAN and plan_sid is None:
        raise InvalidParameter(
            "RatePlan", "A Sim must have a RatePlan before it can become ready or active", code=33104
        )
    if new_plan is None and sim.rate_plan_sid is not None:
        if change.status == "suspended":
            raise InvalidParameter(
                "RatePlan", "A Sim cannot be suspended and lose its RatePlan in the same request", code=33121
            )
        if effective in lifecycle.CONNECTABLE or sim.status == lifecycle.IN_FLIGHT:
            raise InvalidParameter("RatePlan", "The RatePlan of a ready or active Sim cannot be removed", code=33101)
    if isinstance(new_plan, RatePlan) and sim.rate_plan_sid not in (None, new_plan.sid):
        # Hosted 33101: the data limit strategy may change only while the SIM is new or deactivated.
        current = await plan_repo.get(session, sim.rate_plan_sid or "")
        strategy_changes = current is not None and current.data_limit_strategy != new_plan.data_limit_strategy
        if strategy_changes and sim.status not in ("new", "deactivated"):
            raise InvalidParameter(
                "RatePlan",
                "A Sim moves to a RatePlan with another DataLimitStrategy only while it is new or deactivated",
                code=33101,
            )
    return target


def _set_url(sim: Sim, url_attr: str, method_attr: str, urls: dict[str, str | None]) -> None:
    """A URL given ("" clears it) and/or its method; a URL set without a method calls with POST."""
    url, method = urls.get(url_attr), urls.get(method_attr)
    if url is not None:
        setattr(sim, url_attr, url or None)
        if method is None and url and getattr(sim, method_attr) is None:
            method = "POST"
    if method is not None:
        setattr(sim, method_attr, method.upper())
