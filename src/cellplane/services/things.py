"""Things (THINGS.md): list, fetch, change state (202: through the `sim_update` job SIM updates use), services,
locked address and group.

A state change is written as a SIM update in flight (`scheduled` with its pending status) and completed by
`services.sims.complete_update`, whose `sim_status_changed` hook makes the AAA act at once: a SUSPENDED or
RETIRED Thing's live sessions get a Disconnect-Request. `services` and `lockedIp` reach the AAA by its poller
(the Thing's row is stamped), within about a second.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from cellplane.domain import things as rules
from cellplane.domain import things_bulk as bulk_rules
from cellplane.domain import things_config as config
from cellplane.domain.caller import Caller
from cellplane.domain.errors import InvalidParameter, NotFound
from cellplane.domain.paging import Page, PageSpec
from cellplane.services.context import PlatformContext
from cellplane.services.outbox import enqueue
from cellplane.services.sims import SIM_UPDATE_JOB
from cellplane.services.things_networks import ensure_defaults
from cellplane.services.things_profiles import address_in_pools
from cellplane.store.models import DataSession, Sim, ThingsGroup
from cellplane.store.models.base import utcnow
from cellplane.store.repositories import things as repo
from cellplane.store.repositories import things_tags as tag_repo

_UNSET = object()


@dataclass
class ThingChange:
    """None means "not given"; `locked_ip` is _UNSET when not given (null unlocks)."""

    state: str | None = None
    services_data: bool | None = None
    services_sms: bool | None = None
    locked_ip: object = _UNSET
    things_group_id: str | None = None
    # Tags: `tags` replaces the set; `add_tags` and `remove_tags` change it (bulk addTags/removeTags).
    tags: list[str] | None = None
    add_tags: list[str] | None = None
    remove_tags: list[str] | None = None
    imei_lock: object = _UNSET


async def fetch(session: AsyncSession, caller: Caller, key: str) -> Sim:
    found = await repo.find_thing(session, caller.account_sid, key)
    if found is None:
        raise NotFound("Thing", key)
    return found


async def list_things(
    session: AsyncSession,
    caller: Caller,
    spec: PageSpec,
    *,
    state: str | None = None,
    group: str | None = None,
    iccid: str | None = None,
    tag: str | None = None,
) -> Page[Sim]:
    stmt = repo.things_query(caller.account_sid)
    if state is not None:
        stored = rules.stored_status(config.choice(state, "state", rules.STATES))
        stmt = stmt.where((Sim.status == stored) | ((Sim.status == rules.IN_FLIGHT) & (Sim.pending_status == stored)))
    if group is not None:
        stmt = stmt.where(Sim.things_group_sid == group)
    if iccid is not None:
        stmt = stmt.where(Sim.iccid == iccid)
    if tag is not None:
        stmt = stmt.where(Sim.sid.in_(tag_repo.tagged(caller.account_sid, bulk_rules.check_tag(tag, "tag"))))
    return await repo.page(session, stmt, Sim.sid, spec)


async def update(
    session: AsyncSession, ctx: PlatformContext, caller: Caller, key: str, change: ThingChange, if_match: str | None
) -> tuple[Sim, bool]:
    """Apply a change; returns the Thing and whether the network is still applying part of it (202).

    Everything is checked before anything is written, so a refused change leaves the Thing as it was."""
    thing = await fetch(session, caller, key)
    rules.check_if_match(if_match, thing.sid, thing.date_updated, "Thing")
    target = rules.check_transition(thing.status, thing.pending_status, change.state) if change.state else None
    group_sid = thing.things_group_sid
    if change.things_group_id is not None and change.things_group_id != group_sid:
        group = await _group(session, caller, change.things_group_id)
        if group is None:
            raise InvalidParameter("thingsGroupId", f"Things Group {change.things_group_id} was not found")
        group_sid = group.sid
    if group_sid is None:
        group_sid = (await ensure_defaults(session, caller.account_sid)).sid
    group = await _group(session, caller, group_sid)
    assert group is not None
    if group_sid != thing.things_group_sid and thing.things_group_sid is not None:
        current = await _group(session, caller, thing.things_group_sid)
        moves = current is None or current.network_sid != group.network_sid
        if moves and await repo.nat_rules_to(session, thing.sid):
            raise InvalidParameter(
                "thingsGroupId", "A NAT rule forwards to this Thing: delete it before it changes network"
            )
    locked = thing.locked_ip if change.locked_ip is _UNSET else change.locked_ip
    if locked is not None:
        await _check_lock(session, thing, group.network_sid, locked)
    elif thing.locked_ip is not None and await repo.nat_rules_to(session, thing.sid):
        raise InvalidParameter("lockedIp", "A NAT rule forwards to this Thing: delete it before unlocking the address")
    current_tags: list[str] = []
    wanted_tags = current_tags
    if change.tags is not None or change.add_tags or change.remove_tags:
        current_tags = (await tag_repo.tags_of(session, [thing.sid]))[thing.sid]
        base = change.tags if change.tags is not None else current_tags
        wanted_tags = bulk_rules.merged_tags(base, change.add_tags or (), change.remove_tags or ())
    imei_lock = thing.imei_lock if change.imei_lock is _UNSET else change.imei_lock
    if imei_lock is not None and not (
        isinstance(imei_lock, str) and imei_lock.isdigit() and 14 <= len(imei_lock) <= 16
    ):
        raise InvalidParameter("imeiLock", "imeiLock must be null or an IMEI of 14 to 16 digits")

    if wanted_tags != current_tags:
        await tag_repo.replace_tags(session, caller.account_sid, thing.sid, current_tags, wanted_tags)
    thing.imei_lock = imei_lock

    thing.things_group_sid = group_sid
    thing.locked_ip = str(locked) if locked is not None else None
    if change.services_data is not None:
        thing.services_data = change.services_data
    if change.services_sms is not None:
        thing.services_sms = change.services_sms
    is_async = False
    if target is not None:
        thing.pending_status = target
        thing.pending_fleet_set = False
        thing.pending_fleet_sid = None
        thing.status = rules.IN_FLIGHT
        enqueue(session, SIM_UPDATE_JOB, {"sim_sid": thing.sid}, delay=ctx.sim_update_delay)
        is_async = True
    thing.date_updated = utcnow()
    await session.flush()
    for hook in ctx.hooks.get("thing_changed", []):
        hook(thing)
    return thing, is_async


async def _group(session: AsyncSession, caller: Caller, sid: str) -> ThingsGroup | None:
    """The account's Things Group by sid; from the session's identity map when loaded already (a bulk action's
    batch asks for the same group for every item)."""
    group = await session.get(ThingsGroup, sid)
    return group if group is not None and group.account_sid == caller.account_sid else None


async def _check_lock(session: AsyncSession, thing: Sim, network_sid: str, locked: object) -> None:
    """A locked address lies in a pool of the group's network and is no other Thing's (locked or live)."""
    address = str(config.parse_address(locked, "lockedIp"))
    pools = (await repo.pools_of(session, [network_sid]))[network_sid]
    if not address_in_pools(address, pools):
        raise InvalidParameter("lockedIp", f"lockedIp {address} is not an address of the group network's pools")
    for holder in await repo.address_holders(session, network_sid, address):
        if holder != thing.sid:
            raise InvalidParameter("lockedIp", f"lockedIp {address} belongs to Thing {holder}")


async def tags_of(session: AsyncSession, things: list[Sim]) -> dict[str, list[str]]:
    return await tag_repo.tags_of(session, [thing.sid for thing in things])


async def tag_counts(session: AsyncSession, caller: Caller) -> list[tuple[str, int]]:
    return await tag_repo.tag_counts(session, caller.account_sid)


async def live_session(session: AsyncSession, thing: Sim) -> DataSession | None:
    return await repo.open_session(session, thing.sid)


async def last_seen(session: AsyncSession, thing: Sim) -> DataSession | None:
    return await repo.last_session(session, thing.sid)


def is_address(value: str) -> bool:
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        return False
    return True
