"""Queries of the private-network platform (THINGS.md); every one is scoped by account."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any, TypeVar

from sqlalchemy import Select, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import load_only

from cellplane.domain.ids import is_sid
from cellplane.domain.paging import Page, PageSpec
from cellplane.domain.things import PRODUCT
from cellplane.store.models import (
    DataSession,
    IpPool,
    NatRule,
    Sim,
    ThingsGroup,
    ThingsNetwork,
    ThingsRoute,
    VpnTunnel,
)
from cellplane.store.models.base import utcnow
from cellplane.store.repositories.paging import keyset_page
from cellplane.store.value_lists import among

M = TypeVar("M")
OPEN = "open"


async def owned(session: AsyncSession, model: type[M], account_sid: str, sid: str, **where: Any) -> M | None:
    """One row of `model` by sid in the account (and matching `where`), or None."""
    stmt = select(model).where(model.sid == sid, model.account_sid == account_sid)  # type: ignore[attr-defined]
    for name, value in where.items():
        stmt = stmt.where(getattr(model, name) == value)
    return (await session.execute(stmt)).scalar_one_or_none()


async def page(session: AsyncSession, stmt: Select[Any], key: Any, spec: PageSpec) -> Page[Any]:
    return await keyset_page(session, stmt, key, spec)


def listing(model: type[M], account_sid: str, **where: Any) -> Select[Any]:
    stmt = select(model).where(model.account_sid == account_sid)  # type: ignore[attr-defined]
    for name, value in where.items():
        stmt = stmt.where(getattr(model, name) == value)
    return stmt


def things_query(account_sid: str) -> Select[Any]:
    return select(Sim).where(Sim.account_sid == account_sid, Sim.product == PRODUCT)


async def find_thing(session: AsyncSession, account_sid: str, key: str) -> Sim | None:
    """A Thing of the account by sid or ICCID. Looked up by that unique column alone, the account and product checked
    on the row: with the account in the WHERE, PostgreSQL, before its first ANALYZE of a freshly filled table
    (100,000 Things provisioned a minute ago), walked the account's (account, product, status) index and filtered
    every row, 16-25 ms a fetch instead of 0.05."""
    column = Sim.sid if is_sid(key) else Sim.iccid
    found = (await session.execute(select(Sim).where(column == key))).scalar_one_or_none()
    return found if found is not None and found.account_sid == account_sid and found.product == PRODUCT else None


async def default_group(session: AsyncSession, account_sid: str) -> ThingsGroup | None:
    stmt = select(ThingsGroup).where(ThingsGroup.default_for == account_sid)
    return (await session.execute(stmt)).scalar_one_or_none()


async def thing_counts(session: AsyncSession, group_sids: Collection[str]) -> dict[str, int]:
    if not group_sids:
        return {}
    stmt = (
        select(Sim.things_group_sid, func.count())
        .where(Sim.product == PRODUCT, Sim.things_group_sid.in_(list(group_sids)))
        .group_by(Sim.things_group_sid)
    )
    return {group: int(count) for group, count in (await session.execute(stmt)).all() if group is not None}


async def groups_of_network(session: AsyncSession, network_sid: str) -> list[str]:
    stmt = select(ThingsGroup.sid).where(ThingsGroup.network_sid == network_sid)
    return list((await session.execute(stmt)).scalars())


async def groups_using_profile(session: AsyncSession, profile_sid: str) -> list[str]:
    stmt = select(ThingsGroup.sid).where(ThingsGroup.ip_profile_sid == profile_sid)
    return list((await session.execute(stmt)).scalars())


async def pools_of(session: AsyncSession, network_sids: Collection[str]) -> dict[str, list[IpPool]]:
    found: dict[str, list[IpPool]] = {sid: [] for sid in network_sids}
    if not network_sids:
        return found
    stmt = select(IpPool).where(IpPool.network_sid.in_(list(network_sids))).order_by(IpPool.sid)
    for pool in (await session.execute(stmt)).scalars():
        found.setdefault(pool.network_sid, []).append(pool)
    return found


async def address_holders(session: AsyncSession, network_sid: str, address: str) -> list[str]:
    """The Things of the network that hold `address`, locked to it or in an open session with it: what
    `network_addresses` says of one address, without reading every Thing of the network (a PATCH of one Thing's
    locked address in a network of 10,000 asks this)."""
    in_network = (ThingsGroup.network_sid == network_sid, Sim.product == PRODUCT)
    locked = select(Sim.sid).join(ThingsGroup, ThingsGroup.sid == Sim.things_group_sid)
    locked = locked.where(*in_network, Sim.locked_ip == address)
    live = select(DataSession.sim_sid).join(Sim, Sim.sid == DataSession.sim_sid)
    live = live.join(ThingsGroup, ThingsGroup.sid == Sim.things_group_sid)
    live = live.where(*in_network, DataSession.status == OPEN, DataSession.ue_ip == address)
    return [*(await session.execute(locked)).scalars(), *(await session.execute(live)).scalars()]


async def network_addresses(session: AsyncSession, network_sid: str) -> tuple[dict[str, str], dict[str, str]]:
    """What the network's Things hold now: locked addresses (address -> Thing sid) and live sessions' addresses
    (address -> Thing sid)."""
    things = select(Sim.sid, Sim.locked_ip).join(ThingsGroup, ThingsGroup.sid == Sim.things_group_sid)
    things = things.where(ThingsGroup.network_sid == network_sid, Sim.product == PRODUCT)
    locked: dict[str, str] = {}
    sids = []
    for sid, address in (await session.execute(things)).all():
        sids.append(sid)
        if address:
            locked[address] = sid
    live: dict[str, str] = {}
    if sids:
        stmt = select(DataSession.ue_ip, DataSession.sim_sid).where(
            among(DataSession.sim_sid, sids), DataSession.status == OPEN, DataSession.ue_ip.is_not(None)
        )
        live = {address: sim_sid for address, sim_sid in (await session.execute(stmt)).all() if address}
    return locked, live


async def nat_rule_counts(session: AsyncSession, thing_sids: Collection[str]) -> dict[str, int]:
    """How many NAT rules forward to each of these Things (those with none are absent)."""
    found: dict[str, int] = {}
    for part in _parts(list(thing_sids)):
        stmt = select(NatRule.thing_sid, func.count()).where(among(NatRule.thing_sid, part)).group_by(NatRule.thing_sid)
        found.update({sid: int(count) for sid, count in (await session.execute(stmt)).all()})
    return found


# What the rules of a Thing change read (services.things.update_many) and the AAA's hook after it; any other column of
# a Thing loaded for a bulk action raises rather than being read one Thing at a time.
_RULE_COLUMNS = load_only(
    Sim.sid,
    Sim.account_sid,
    Sim.product,
    Sim.imsi,
    Sim.status,
    Sim.pending_status,
    Sim.things_group_sid,
    Sim.locked_ip,
    Sim.imei_lock,
    Sim.services_data,
    Sim.services_sms,
    Sim.date_updated,
    raiseload=True,
)


async def things_for_update(
    session: AsyncSession, account_sid: str, thing_sids: Sequence[str], part_size: int = 100
) -> dict[str, Sim]:
    """The account's Things among these sids, loaded fresh and (on PostgreSQL) row-locked until the transaction
    ends, so the rules decided on them still hold when the changes are written. Read `part_size` at a time: building
    the rows into objects holds the event loop, which the API may share (PlatformContext.read_part)."""
    found: dict[str, Sim] = {}
    for part in _parts(list(thing_sids), part_size):
        # By primary key only, the account checked here: with the account in the WHERE, PostgreSQL on fresh
        # statistics (a fleet just provisioned) took the account's index and walked all its SIMs for each part.
        stmt = select(Sim).where(among(Sim.sid, part)).options(_RULE_COLUMNS).with_for_update()
        for thing in (await session.execute(stmt)).scalars():
            if thing.account_sid == account_sid and thing.product == PRODUCT:
                found[thing.sid] = thing
    return found


async def open_sessions(session: AsyncSession, sim_sids: Sequence[str]) -> dict[str, DataSession]:
    """Each SIM's newest open data session (open_session for many)."""
    found: dict[str, DataSession] = {}
    for part in _parts(list(sim_sids)):
        stmt = select(DataSession).where(among(DataSession.sim_sid, part), DataSession.status == OPEN)
        for row in (await session.execute(stmt.order_by(DataSession.sid))).scalars():
            found[row.sim_sid] = row
    return found


async def last_sessions(session: AsyncSession, sim_sids: Sequence[str]) -> dict[str, DataSession]:
    """Each SIM's newest data session, open or ended (last_session for many: a page of the Things list)."""
    found: dict[str, DataSession] = {}
    for part in _parts(list(sim_sids)):
        newest = (
            select(func.max(DataSession.sid).label("sid"))
            .where(among(DataSession.sim_sid, part))
            .group_by(DataSession.sim_sid)
            .subquery()
        )
        stmt = select(DataSession).join(newest, DataSession.sid == newest.c.sid)
        found.update((row.sim_sid, row) for row in (await session.execute(stmt)).scalars())
    return found


def _parts(sids: list[str], size: int = 900) -> list[list[str]]:
    """Lists of at most `size` sids, a statement each: `among` binds a list as one parameter, so the size bounds
    the rows one statement reads into objects while the API may share the loop, not a parameter limit."""
    return [sids[start : start + size] for start in range(0, len(sids), size)]


async def nat_rules_to(session: AsyncSession, thing_sid: str) -> int:
    stmt = select(func.count()).select_from(NatRule).where(NatRule.thing_sid == thing_sid)
    return int((await session.execute(stmt)).scalar_one())


async def touch_things(session: AsyncSession, group_sids: Collection[str]) -> None:
    """Stamp the Things of these groups as changed: the AAA's poller re-reads their policy (network, pools)."""
    if group_sids:
        stmt = update(Sim).where(Sim.things_group_sid.in_(list(group_sids))).values(date_updated=utcnow())
        await session.execute(stmt.execution_options(synchronize_session=False))


async def move_things(session: AsyncSession, from_group: str, to_group: str) -> None:
    stmt = (
        update(Sim).where(Sim.things_group_sid == from_group).values(things_group_sid=to_group, date_updated=utcnow())
    )
    await session.execute(stmt.execution_options(synchronize_session=False))


async def assign_default_group(session: AsyncSession, account_sid: str, group_sid: str) -> None:
    """Things handed to the account without a group start in its default one."""
    stmt = (
        update(Sim)
        .where(Sim.account_sid == account_sid, Sim.product == PRODUCT, Sim.things_group_sid.is_(None))
        .values(things_group_sid=group_sid, date_updated=utcnow())
    )
    await session.execute(stmt.execution_options(synchronize_session=False))


async def public_addresses(session: AsyncSession) -> set[str]:
    return set((await session.execute(select(ThingsNetwork.public_address))).scalars())


async def thing_by_imsi(session: AsyncSession, imsi: str) -> Sim | None:
    """A claimed Thing by IMSI (the SMS center's lookup; not scoped by account: the network serves them all)."""
    stmt = select(Sim).where(Sim.imsi == imsi, Sim.product == PRODUCT, Sim.account_sid.is_not(None))
    return (await session.execute(stmt)).scalar_one_or_none()


async def delete_network_parts(session: AsyncSession, network_sid: str) -> None:
    for model in (IpPool, ThingsRoute, NatRule, VpnTunnel):
        stmt = delete(model).where(model.network_sid == network_sid)
        await session.execute(stmt.execution_options(synchronize_session=False))


async def nat_rules_to_group(session: AsyncSession, group_sid: str) -> str | None:
    """A Thing of the group that a NAT rule forwards to, if any."""
    stmt = (
        select(NatRule.thing_sid)
        .join(Sim, Sim.sid == NatRule.thing_sid)
        .where(Sim.things_group_sid == group_sid)
        .limit(1)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def held_addresses(session: AsyncSession, network_sid: str) -> list[str]:
    """Every address the network's Things hold now, locked or leased to a live session (repeats possible): what a
    pool's usage counts. Two queries that return only addresses (a network may hold tens of thousands of Things)."""
    groups = select(ThingsGroup.sid).where(ThingsGroup.network_sid == network_sid)
    locked = select(Sim.locked_ip).where(
        Sim.things_group_sid.in_(groups), Sim.product == PRODUCT, Sim.locked_ip.is_not(None)
    )
    live = (
        select(DataSession.ue_ip)
        .join(Sim, Sim.sid == DataSession.sim_sid)
        .where(
            DataSession.status == OPEN,
            DataSession.ue_ip.is_not(None),
            Sim.things_group_sid.in_(groups),
            Sim.product == PRODUCT,
        )
    )
    connection = await session.connection()  # plain rows: no ORM bookkeeping for thousands of addresses
    found = [address for (address,) in (await connection.execute(locked)).all() if address]
    found += [address for (address,) in (await connection.execute(live)).all() if address]
    return found
