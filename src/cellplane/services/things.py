"""Things (THINGS.md): list, fetch, change state (202: through the `sim_update` job SIM updates use), services,
locked address and group.

A state change is written as a SIM update in flight (`scheduled` with its pending status) and completed by
`services.sims.complete_update`, whose `sim_status_changed` hook makes the AAA act at once: a SUSPENDED or
RETIRED Thing's live sessions get a Disconnect-Request. `services` and `lockedIp` reach the AAA by its poller
(the Thing's row is stamped), within about a second.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from cellplane.domain import things as rules
from cellplane.domain import things_bulk as bulk_rules
from cellplane.domain import things_config as config
from cellplane.domain.caller import Caller
from cellplane.domain.errors import CellplaneError, ConcurrentChange, InvalidParameter, NotFound
from cellplane.domain.paging import Page, PageSpec
from cellplane.domain.turns import in_turns
from cellplane.services.context import PlatformContext
from cellplane.services.outbox import enqueue
from cellplane.services.sims import SIM_UPDATE_JOB
from cellplane.services.things_networks import ensure_defaults
from cellplane.services.things_profiles import address_in_pools
from cellplane.store.models import DataSession, IpPool, Sim, ThingsGroup
from cellplane.store.models.base import utcnow
from cellplane.store.repositories import sims as sim_repo
from cellplane.store.repositories import things as repo
from cellplane.store.repositories import things_tags as tag_repo

_UNSET = object()
# A batch yields the event loop the API shares every 25 Things: under load a stretch of 100 decisions was among the
# longest steps of a bulk action on the loop, which other requests wait behind (bench/RESULTS.md, bulk section).
_YIELD_EVERY = 25


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


@dataclass
class Outcome:
    """One Thing's result in `update_many`: refused with its reason, or applied (`is_async`: the network is still
    applying part of it, a 202)."""

    error: CellplaneError | None = None
    is_async: bool = False


async def update(
    session: AsyncSession, ctx: PlatformContext, caller: Caller, key: str, change: ThingChange, if_match: str | None
) -> tuple[Sim, bool]:
    """Apply a change to one Thing (PATCH); returns the Thing and whether the network is still applying part of it
    (202). The rules are `update_many`'s, run over a batch of one: a refusal raises, and nothing was written."""
    thing = await fetch(session, caller, key)
    rules.check_if_match(if_match, thing.sid, thing.date_updated, "Thing")
    [outcome] = await update_many(session, ctx, caller, [(thing, change)])
    if outcome.error is not None:
        raise outcome.error
    return thing, outcome.is_async


async def update_many(
    session: AsyncSession, ctx: PlatformContext, caller: Caller, changes: Sequence[tuple[Sim, ThingChange]]
) -> list[Outcome]:
    """Apply a change to each of a batch of loaded Things (the single PATCH is a batch of one; a bulk action's chunk
    is a batch of hundreds): every rule is decided per Thing in Python on what the batch reads once, then the allowed
    changes are written with a few set-based statements (one UPDATE per distinct set of new values, the tags in one
    insert, the state changes as one `sim_update` job). A refused Thing is left as it was, with its reason."""
    batch = _Batch([thing.sid for thing, _ in changes])
    outcomes: list[Outcome] = []
    plans: list[tuple[Sim, _Plan]] = []
    async for thing, change in in_turns(changes, _YIELD_EVERY):  # a batch of hundreds: the API's requests get turns
        try:
            plan = await _decide(session, caller, batch, thing, change)
        except CellplaneError as refused:
            outcomes.append(Outcome(error=refused))
            continue
        plans.append((thing, plan))
        outcomes.append(Outcome(is_async=plan.target is not None))
    await _apply(session, ctx, caller, plans)
    return outcomes


@dataclass
class _Plan:
    """What an allowed change writes: the Thing's new column values and, when they change, its tags."""

    target: str | None
    values: dict[str, object]
    tags: tuple[list[str], list[str]] | None = None


@dataclass
class _Batch:
    """What a batch of changes reads once and shares: the default group, the Things' tags, each network's pools and
    held addresses (kept up to date as the batch locks addresses, as the per-Thing reads would see them), and the
    NAT rules forwarding to the Things."""

    sids: list[str]
    default_group: str | None = None
    tags: dict[str, list[str]] | None = None
    pools: dict[str, list[IpPool]] = field(default_factory=dict)
    addresses: dict[str, tuple[dict[str, str], dict[str, str]]] = field(default_factory=dict)
    nat: dict[str, int] | None = None
    # Strong references: the session's identity map is weak, so a group nobody holds is read again per Thing.
    groups: dict[str, ThingsGroup | None] = field(default_factory=dict)

    async def group(self, session: AsyncSession, caller: Caller, sid: str) -> ThingsGroup | None:
        """The account's Things Group by sid (None when it is not the account's), read once a batch."""
        if sid not in self.groups:
            found = await session.get(ThingsGroup, sid)
            self.groups[sid] = found if found is not None and found.account_sid == caller.account_sid else None
        return self.groups[sid]

    async def default_group_sid(self, session: AsyncSession, caller: Caller) -> str:
        if self.default_group is None:
            self.default_group = (await ensure_defaults(session, caller.account_sid)).sid
        return self.default_group

    async def tags_of(self, session: AsyncSession, sid: str) -> list[str]:
        if self.tags is None:
            self.tags = await tag_repo.tags_of(session, self.sids)
        return list(self.tags[sid])

    async def pools_of(self, session: AsyncSession, network_sid: str) -> list[IpPool]:
        if network_sid not in self.pools:
            self.pools.update(await repo.pools_of(session, [network_sid]))
        return self.pools[network_sid]

    async def addresses_of(self, session: AsyncSession, network_sid: str) -> tuple[dict[str, str], dict[str, str]]:
        if network_sid not in self.addresses:
            self.addresses[network_sid] = await repo.network_addresses(session, network_sid)
        return self.addresses[network_sid]

    async def holders_of(self, session: AsyncSession, network_sid: str, address: str) -> list[str]:
        """Who holds `address`: one indexed query for a single Thing's change (a PATCH in a network of 10,000 Things),
        the network's addresses read once for a batch (whose later Things must see its earlier locks)."""
        if len(self.sids) == 1 and network_sid not in self.addresses:
            return await repo.address_holders(session, network_sid, address)
        taken, live = await self.addresses_of(session, network_sid)
        return [holder for holder in (taken.get(address), live.get(address)) if holder is not None]

    async def nat_rules_to(self, session: AsyncSession, sid: str) -> int:
        if self.nat is None:
            self.nat = await repo.nat_rule_counts(session, self.sids)
        return self.nat.get(sid, 0)

    def lock(self, sid: str, network_sid: str, address: str | None) -> None:
        """A planned change moves the Thing's locked address: later Things of the batch see it taken (and freed)."""
        for taken, _ in self.addresses.values():
            for held in [address for address, holder in taken.items() if holder == sid]:
                del taken[held]
        if address is not None and network_sid in self.addresses:
            self.addresses[network_sid][0][address] = sid


async def _decide(session: AsyncSession, caller: Caller, batch: _Batch, thing: Sim, change: ThingChange) -> _Plan:
    """Every rule of a Thing change, checked before anything is written; raises the refusal with its reason."""
    target = rules.check_transition(thing.status, thing.pending_status, change.state) if change.state else None
    group_sid = thing.things_group_sid
    if change.things_group_id is not None and change.things_group_id != group_sid:
        group = await batch.group(session, caller, change.things_group_id)
        if group is None:
            raise InvalidParameter("thingsGroupId", f"Things Group {change.things_group_id} was not found")
        group_sid = group.sid
    if group_sid is None:
        group_sid = await batch.default_group_sid(session, caller)
    group = await batch.group(session, caller, group_sid)
    assert group is not None
    if group_sid != thing.things_group_sid and thing.things_group_sid is not None:
        current = await batch.group(session, caller, thing.things_group_sid)
        moves = current is None or current.network_sid != group.network_sid
        if moves and await batch.nat_rules_to(session, thing.sid):
            raise InvalidParameter(
                "thingsGroupId", "A NAT rule forwards to this Thing: delete it before it changes network"
            )
    locked = thing.locked_ip if change.locked_ip is _UNSET else change.locked_ip
    address: str | None = None
    if locked is not None:
        address = await _check_lock(session, batch, thing, group.network_sid, locked)
    elif thing.locked_ip is not None and await batch.nat_rules_to(session, thing.sid):
        raise InvalidParameter("lockedIp", "A NAT rule forwards to this Thing: delete it before unlocking the address")
    current_tags: list[str] = []
    wanted_tags = current_tags
    if change.tags is not None or change.add_tags or change.remove_tags:
        current_tags = await batch.tags_of(session, thing.sid)
        base = change.tags if change.tags is not None else current_tags
        wanted_tags = bulk_rules.merged_tags(base, change.add_tags or (), change.remove_tags or ())
    imei_lock = thing.imei_lock if change.imei_lock is _UNSET else change.imei_lock
    if imei_lock is not None and not (
        isinstance(imei_lock, str) and imei_lock.isdigit() and 14 <= len(imei_lock) <= 16
    ):
        raise InvalidParameter("imeiLock", "imeiLock must be null or an IMEI of 14 to 16 digits")

    values: dict[str, object] = {}
    if imei_lock != thing.imei_lock:
        values["imei_lock"] = imei_lock
    if group_sid != thing.things_group_sid:
        values["things_group_sid"] = group_sid
    if address != thing.locked_ip:
        values["locked_ip"] = address
        batch.lock(thing.sid, group.network_sid, address)
    if change.services_data is not None and change.services_data != thing.services_data:
        values["services_data"] = change.services_data
    if change.services_sms is not None and change.services_sms != thing.services_sms:
        values["services_sms"] = change.services_sms
    if target is not None:
        values.update(status=rules.IN_FLIGHT, pending_status=target, pending_fleet_set=False, pending_fleet_sid=None)
    tags = (current_tags, wanted_tags) if wanted_tags != current_tags else None
    return _Plan(target, values, tags)


async def _apply(session: AsyncSession, ctx: PlatformContext, caller: Caller, plans: list[tuple[Sim, _Plan]]) -> None:
    """Write the allowed changes set-based: one UPDATE per distinct set of new values (a bulk activate is one), every
    Thing stamped `updatedAt` (its ETag changes even when nothing else did, as a PATCH's always has)."""
    if not plans:
        return
    tag_changes = [(thing.sid, *plan.tags) for thing, plan in plans if plan.tags is not None]
    if tag_changes:
        await tag_repo.replace_tags_many(session, caller.account_sid, tag_changes)
    now = utcnow()
    alike: dict[tuple[str, tuple[tuple[str, object], ...]], list[Sim]] = {}
    for thing, plan in plans:
        alike.setdefault((thing.status, tuple(sorted(plan.values.items()))), []).append(thing)
    for (status, values), things in alike.items():
        # Only where the status is still the one the rules were decided on (as the lifecycle's writes always are).
        if not await sim_repo.set_values(session, things, {**dict(values), "date_updated": now}, status):
            raise ConcurrentChange("The Thing changed while this change was being made; fetch it and retry")
    moving = [thing.sid for thing, plan in plans if plan.target is not None]
    if len(moving) == 1:
        enqueue(session, SIM_UPDATE_JOB, {"sim_sid": moving[0]}, delay=ctx.sim_update_delay)
    elif moving:
        enqueue(session, SIM_UPDATE_JOB, {"sim_sids": moving}, delay=ctx.sim_update_delay)
    await session.flush()
    for thing, _ in plans:
        for hook in ctx.hooks.get("thing_changed", []):
            hook(thing)


async def _check_lock(session: AsyncSession, batch: _Batch, thing: Sim, network_sid: str, locked: object) -> str:
    """A locked address lies in a pool of the group's network and is no other Thing's (locked or live)."""
    address = str(config.parse_address(locked, "lockedIp"))
    if not address_in_pools(address, await batch.pools_of(session, network_sid)):
        raise InvalidParameter("lockedIp", f"lockedIp {address} is not an address of the group network's pools")
    for holder in await batch.holders_of(session, network_sid, address):
        if holder != thing.sid:
            raise InvalidParameter("lockedIp", f"lockedIp {address} belongs to Thing {holder}")
    return address


async def tags_of(session: AsyncSession, things: list[Sim]) -> dict[str, list[str]]:
    return await tag_repo.tags_of(session, [thing.sid for thing in things])


async def tag_counts(session: AsyncSession, caller: Caller) -> list[tuple[str, int]]:
    return await tag_repo.tag_counts(session, caller.account_sid)


async def sessions_seen(
    session: AsyncSession, things: Sequence[Sim]
) -> dict[str, tuple[DataSession | None, DataSession | None]]:
    """Each Thing's live session (its newest open one) and its newest session of all, for its view. The newest is
    read first: when it is open it is the live one too, and with none there is nothing more to read; only the
    Things whose newest session has ended are read again, for an older one still open (a query for the lot, so a
    page of the list costs the same few queries as one Thing)."""
    sids = [thing.sid for thing in things]
    last = await repo.last_sessions(session, sids)
    ended = [sid for sid, row in last.items() if row.status != repo.OPEN]
    still_open = await repo.open_sessions(session, ended) if ended else {}
    seen: dict[str, tuple[DataSession | None, DataSession | None]] = {}
    for sid in sids:
        newest = last.get(sid)
        live = newest if newest is not None and newest.status == repo.OPEN else still_open.get(sid)
        seen[sid] = (live, newest)
    return seen


def is_address(value: str) -> bool:
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        return False
    return True
