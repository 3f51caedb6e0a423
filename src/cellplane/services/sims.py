"""Super SIM use cases: claim, list, fetch, update (synchronous or through `scheduled`), complete updates."""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from cellplane.domain import lifecycle
from cellplane.domain.caller import Caller
from cellplane.domain.errors import (
    ConcurrentChange,
    Conflict,
    InvalidParameter,
    MissingParameter,
    NotFound,
    RegistrationError,
    Unauthorized,
)
from cellplane.domain.ids import Prefix, is_sid
from cellplane.domain.paging import Page, PageSpec
from cellplane.domain.turns import in_turns
from cellplane.services import billing, settings_updates, things_billing, unique_names
from cellplane.services.context import PlatformContext
from cellplane.services.outbox import enqueue, enqueue_webhook
from cellplane.store.direct import DirectReadUnavailable
from cellplane.store.models import Account, Fleet, Sim
from cellplane.store.models.base import utcnow
from cellplane.store.repositories import accounts as account_repo
from cellplane.store.repositories import fleets as fleet_repo
from cellplane.store.repositories import sims as repo

SIM_UPDATE_JOB = "sim_update"
# A sim_update job with this action applies a timed transition (lifecycle.AUTOMATIC) instead of an update.
AUTOMATIC_ACTION = "automatic"
PRODUCT = "supersim"
# Hooks the network registers: one SIM at a time, or a batch of SIMs (services.sims.announce_many).
STATUS_CHANGED = "sim_status_changed"
STATUS_CHANGED_MANY = "sims_status_changed"
_UNCHANGED = object()
# A batch's per-SIM Python work yields the event loop (which the API shares) every this many SIMs.
_YIELD_EVERY = 100


async def claim(session: AsyncSession, caller: Caller, iccid: str | None, registration_code: str | None) -> Sim:
    """Register an inventory SIM to the caller's account (POST /Sims)."""
    if not iccid:
        raise MissingParameter("Iccid", code=83001)
    if not registration_code:
        raise MissingParameter("RegistrationCode", code=83001)
    sim = await repo.by_iccid(session, iccid.strip())
    if sim is None or sim.product != PRODUCT or sim.registration_code != registration_code.strip():
        raise _not_registrable()
    if sim.account_sid is None and await repo.claim_unowned(session, sim, caller.account_sid, utcnow()):
        return sim
    # Owned already, or another claim took it between our read and our write: say whose it is now.
    owner = sim.account_sid
    if owner is None:
        await session.refresh(sim, ["account_sid"])
        owner = sim.account_sid
    if owner == caller.account_sid:
        raise Conflict("This Super SIM is already registered to your account", code=83003)
    raise _not_registrable()


def _not_registrable() -> RegistrationError:
    return RegistrationError(
        "The ICCID and RegistrationCode do not match a Super SIM that can be registered", code=83002
    )


async def fetch(session: AsyncSession, caller: Caller, key: str, product: str = PRODUCT) -> Sim:
    """A SIM of `product` the caller may see, by sid or unique name (Wireless shares this lookup)."""
    sim = await repo.find_visible(session, key, caller.visible, product)
    if sim is None and caller.parent_sid is None:
        # The cached Caller may predate a subaccount created since; look its children up fresh on a miss.
        fresh = await visible_accounts(session, caller)
        if fresh != caller.visible:
            sim = await repo.find_visible(session, key, fresh, product)
    if sim is None:
        raise NotFound("Sim", key)
    return sim


async def fetch_direct(ctx: PlatformContext, caller: Caller, key: str, product: str = PRODUCT) -> Any | None:
    """The hot GET's first try: the SIM's row read on the driver (store/direct.py). None means "ask
    `fetch_row`": no direct reader, a busy SQLite file, a parent caller, or no such SIM (where `fetch_row`
    looks again with fresh subaccounts and raises NotFound)."""
    if ctx.direct is None:
        return None
    try:
        return await repo.find_visible_direct(ctx.direct, key, caller.visible, product)
    except DirectReadUnavailable:
        return None


async def fetch_row(connection: AsyncConnection, caller: Caller, key: str, product: str = PRODUCT) -> Row[Any]:
    """`fetch` for read-only callers: the SIM's row on a plain connection (the hot GET path)."""
    row = await repo.find_visible_row(connection, key, caller.visible, product)
    if row is None and caller.parent_sid is None:
        children = (
            await connection.execute(select(Account.sid).where(Account.parent_sid == caller.account_sid))
        ).scalars()
        fresh = frozenset([caller.account_sid, *children])
        if fresh != caller.visible:
            row = await repo.find_visible_row(connection, key, fresh, product)
    if row is None:
        raise NotFound("Sim", key)
    return row


async def visible_accounts(session: AsyncSession, caller: Caller) -> frozenset[str]:
    return frozenset([caller.account_sid, *await account_repo.child_sids(session, caller.account_sid)])


async def listed_accounts(session: AsyncSession, caller: Caller) -> frozenset[str]:
    """Whose SIMs a caller's Sims list shows: its own and, for a parent, its subaccounts' (read fresh: a cached
    Caller may predate a subaccount). The same SIMs it can fetch, update and send commands to (README)."""
    if caller.parent_sid is not None:
        return frozenset([caller.account_sid])
    return await visible_accounts(session, caller)


async def find_addressable(session: AsyncSession, caller: Caller, key: str, product: str = PRODUCT) -> Sim | None:
    """A SIM the caller may send commands to: of its own account first (unique names are per account), else, for
    a parent, a subaccount's by sid or unique name, exactly as `fetch` finds it."""
    sim = await repo.find_visible(session, key, [caller.account_sid], product)
    if sim is None and caller.parent_sid is None:
        others = await visible_accounts(session, caller) - {caller.account_sid}
        if others:
            sim = await repo.find_visible(session, key, others, product)
    return sim


async def list_sims(
    session: AsyncSession,
    caller: Caller,
    spec: PageSpec,
    *,
    status: str | None = None,
    fleet: str | None = None,
    iccid: str | None = None,
) -> Page[Sim]:
    stmt = repo.list_query(await listed_accounts(session, caller), PRODUCT)
    if status is not None:
        stmt = stmt.where(Sim.status == status)
    if iccid is not None:
        stmt = stmt.where(Sim.iccid == iccid)
    if fleet is not None:
        found = await fleet_repo.find_fleet(session, caller.account_sid, fleet)
        if found is None:
            return Page(items=[], has_next=False, has_previous=False)
        stmt = stmt.where(Sim.fleet_sid == found.sid)
    return await repo.page(session, stmt, spec)


@dataclass
class SimUpdate:
    """The parameters of POST /Sims/{Sid}; None means "not given", "" for Fleet means "no fleet"."""

    unique_name: str | None = None
    status: str | None = None
    fleet: str | None = None
    callback_url: str | None = None
    callback_method: str | None = None
    account_sid: str | None = None


async def update(
    session: AsyncSession, ctx: PlatformContext, caller: Caller, key: str, change: SimUpdate
) -> tuple[Sim, bool]:
    """Apply an update; returns the SIM and whether it completes asynchronously (202)."""
    sim = await fetch(session, caller, key)
    seen = {"status": sim.status, "fleet_sid": sim.fleet_sid, "account_sid": sim.account_sid}
    target_account = sim.account_sid or caller.account_sid
    if change.account_sid is not None and change.account_sid != sim.account_sid:
        target_account = await _check_transfer(session, caller, change)
    new_fleet: object = _UNCHANGED
    if change.fleet is not None:
        new_fleet = await _resolve_fleet(session, target_account, change.fleet)
    elif target_account != sim.account_sid and sim.fleet_sid is not None:
        raise MissingParameter("Fleet")
    if change.status is not None:
        lifecycle.check_supersim_transition(sim.status, change.status)
    if change.unique_name:
        await unique_names.check(
            "Sim", change.unique_name, lambda name: repo.unique_name_taken(session, target_account, name, sim.sid)
        )

    fleet_sid = new_fleet.sid if isinstance(new_fleet, Fleet) else None
    if new_fleet is not _UNCHANGED and sim.status == lifecycle.IN_FLIGHT:
        _check_fleet_in_flight(sim, fleet_sid)
    fleet_changes = new_fleet is not _UNCHANGED and fleet_sid != sim.fleet_sid and sim.status != lifecycle.IN_FLIGHT
    is_async = lifecycle.touches_network(sim.status, change.status, fleet_changes)

    if change.unique_name is not None:
        sim.unique_name = change.unique_name or None
    if change.callback_url is not None:
        sim.callback_url = change.callback_url or None
        sim.callback_method = change.callback_method or "POST"
    elif change.callback_method is not None:
        sim.callback_method = change.callback_method
    state: dict[str, Any] = {}
    if target_account != sim.account_sid:
        state["account_sid"] = target_account
    if is_async:
        # The seed: status shows `scheduled`, fleet_sid keeps its old value until the update completes.
        state.update(
            pending_status=change.status or sim.status,
            pending_fleet_set=fleet_changes,
            pending_fleet_sid=fleet_sid,
            status=lifecycle.IN_FLIGHT,
        )
    elif fleet_changes:
        state["fleet_sid"] = fleet_sid
    if state and not await repo.write_if(session, sim, seen, **state):
        raise ConcurrentChange("The Sim changed while this update was being made; fetch it and retry")
    if is_async:
        enqueue(session, SIM_UPDATE_JOB, {"sim_sid": sim.sid}, delay=ctx.sim_update_delay)
    sim.date_updated = utcnow()
    await unique_names.flush(session, "Sim", change.unique_name)
    return sim, is_async


def _check_fleet_in_flight(sim: Sim, fleet_sid: str | None) -> None:
    """While an update is in flight, a fleet change is refused like a status change (409): only asking for the fleet
    the SIM is already going to passes, as a no-op. Folding it into the pending change would make the callback of the
    first request report a change nobody asked for with it, and the network would take two changes as one."""
    heading_to = sim.pending_fleet_sid if sim.pending_fleet_set else sim.fleet_sid
    if fleet_sid != heading_to:
        raise ConcurrentChange("The Sim has an update in progress; retry when it completes", parameter="Fleet")


async def complete_update(session: AsyncSession, ctx: PlatformContext, sim_sid: str) -> Sim | None:
    """The network confirmed one SIM's update (see complete_updates)."""
    done = await complete_updates(session, ctx, [sim_sid])
    return done[0] if done else None


async def complete_updates(session: AsyncSession, ctx: PlatformContext, sim_sids: Sequence[str]) -> list[Sim]:
    """The network confirmed: apply each SIM's pending status and fleet, and call its callback. Set-based for a batch
    (a bulk action's chunk is one job): the SIMs locked and read in a few statements, one UPDATE per distinct outcome,
    the state history in one INSERT. A SIM no longer in flight is left alone, so a re-run is a no-op."""
    now = ctx.clock()
    done = [
        sim
        for sim in await repo.lock_for_completion(session, sim_sids, now, ctx.read_part)
        if sim.status == lifecycle.IN_FLIGHT and sim.pending_status is not None
    ]
    alike: dict[tuple[tuple[str, Any], ...], list[Sim]] = {}
    async for sim in in_turns(done, _YIELD_EVERY):  # a bulk action's chunk: the API's requests get turns between
        values: dict[str, Any] = {"status": sim.pending_status, "pending_status": None, "pending_fleet_set": False}
        values.update(pending_fleet_sid=None, date_updated=now)
        if sim.pending_fleet_set:
            values["fleet_sid"] = sim.pending_fleet_sid
        if sim.pending_status in lifecycle.CONNECTABLE and sim.date_activated is None:
            values["date_activated"] = now
        alike.setdefault(tuple(sorted(values.items())), []).append(sim)
    for same, group in alike.items():
        if not await repo.set_values(session, group, dict(same), lifecycle.IN_FLIGHT):
            raise ConcurrentChange("A SIM changed while its update was being completed")  # rolled back; the job retries
    # The Things' monthly fee needs every status a Thing had and when (issue 18): kept with the change.
    await things_billing.record_state_changes(session, done, now)
    async for sim in in_turns(done, _YIELD_EVERY):
        if sim.product == PRODUCT:
            # Billing periods and the first settings update (Super SIM resources) follow the confirmed status.
            await billing.on_status_change(session, sim, now)
            await settings_updates.on_status_change(session, ctx, sim, now)
        _schedule_automatic(session, sim)
        notify(session, sim)
    if done:
        await announce_many(session, ctx, done)
    return done


async def announce(session: AsyncSession, ctx: PlatformContext, sim: Sim) -> None:
    """Tell the network in this process of a SIM's new status before it commits (see announce_many)."""
    await announce_many(session, ctx, [sim])


async def announce_many(session: AsyncSession, ctx: PlatformContext, changed: Sequence[Sim]) -> None:
    """Tell the network in this process of SIMs' new status before it commits (so before any API read shows it):
    each `sims_status_changed` hook (the AAA registers its own at start-up) gets the SIMs and this session, which
    holds the change already, once for the lot; each `sim_status_changed` hook gets one SIM at a time. An awaitable
    result is awaited. Other nodes learn it from their poll of the database."""
    await session.flush()
    for batch_hook in ctx.hooks.get(STATUS_CHANGED_MANY, []):
        result = batch_hook(list(changed), session)
        if inspect.isawaitable(result):
            await result
    for sim in changed:
        for hook in ctx.hooks.get(STATUS_CHANGED, []):
            result = hook(sim, session)
            if inspect.isawaitable(result):
                await result


def notify(session: AsyncSession, sim: Sim) -> None:
    """Call the SIM's update callback (if it has one) with its status in its own surface's names."""
    if sim.callback_url and sim.account_sid:
        enqueue_webhook(
            session,
            account_sid=sim.account_sid,
            event="sim.updated",
            url=sim.callback_url,
            method=sim.callback_method,
            params={
                "SimSid": sim.sid,
                "SimUniqueName": sim.unique_name,
                "SimStatus": lifecycle.surface_name(sim.product, sim.status),
                "AccountSid": sim.account_sid,
            },
            resource_sid=sim.sid,
        )


def _schedule_automatic(session: AsyncSession, sim: Sim) -> None:
    """A status with a timed successor (Wireless deactivated → canceled) gets its durable job now."""
    follow = lifecycle.AUTOMATIC.get(sim.status)
    if follow is not None:
        payload = {"sim_sid": sim.sid, "action": AUTOMATIC_ACTION, "from": sim.status}
        enqueue(session, SIM_UPDATE_JOB, payload, delay=follow.after.total_seconds())


async def complete_automatic(session: AsyncSession, ctx: PlatformContext, sim_sid: str, from_status: str) -> Sim | None:
    """The timed transition is due: apply it if the SIM is still where it was left (a re-run is a no-op)."""
    sim = await session.get(Sim, sim_sid)
    follow = lifecycle.AUTOMATIC.get(from_status)
    if sim is None or follow is None or sim.status != from_status:
        return None
    if not await repo.write_if(session, sim, {"status": from_status}, status=follow.target, date_updated=ctx.clock()):
        return None
    notify(session, sim)
    await announce(session, ctx, sim)
    return sim


async def _check_transfer(session: AsyncSession, caller: Caller, change: SimUpdate) -> str:
    """The seed: parent → child, child → parent, child → child, always with the parent's credentials."""
    target = change.account_sid or ""
    if not is_sid(target, Prefix.ACCOUNT):
        raise InvalidParameter("AccountSid", "AccountSid must be an Account sid (AC followed by 32 hex digits)")
    if target not in await visible_accounts(session, caller):
        raise Unauthorized(
            "SIMs can be moved only between a parent account and its subaccounts, with the parent's credentials",
            code=20403,
        )
    if caller.parent_sid is not None:
        raise Unauthorized("Only the parent account can move SIMs between accounts", code=20403)
    return target


async def _resolve_fleet(session: AsyncSession, account_sid: str, key: str) -> Fleet | None:
    if key == "" or key.lower() == "null":
        return None
    fleet = await fleet_repo.find_fleet(session, account_sid, key)
    if fleet is None:
        raise InvalidParameter("Fleet", f"Fleet {key} was not found in account {account_sid}")
    return fleet
