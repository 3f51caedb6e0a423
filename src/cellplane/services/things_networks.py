"""Private networks (THINGS.md): the account's defaults, Networks, their IP pools and routes.

A change that alters what the AAA decides (a pool added, resized or removed) stamps the Things of the network's
groups, so that the AAA's poller re-reads their policy within a second (services/network_policy.py).
"""

from __future__ import annotations

import ipaddress
import socket
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from cellplane.domain import things_config as config
from cellplane.domain.caller import Caller
from cellplane.domain.errors import InvalidParameter, NotFound
from cellplane.domain.ids import Prefix, new_sid
from cellplane.domain.paging import Page, PageSpec
from cellplane.domain.things import check_if_match
from cellplane.store.models import IpPool, IpProfile, ThingsGroup, ThingsNetwork, ThingsRoute, VpnTunnel
from cellplane.store.repositories import things as repo

DEFAULT_POOL = "10.200.0.0/20"
SHARED_APN = "things.cellplane"
Child = TypeVar("Child")  # a resource that hangs off a Network: a pool, a route, a NAT rule, a VPN tunnel
# NAT rules of network n listen on 127.100.x.y on the host (loopback: reachable from the host only, as tests need).
PUBLIC_BASE = int(ipaddress.IPv4Address("127.100.0.1"))
PUBLIC_SPAN = 65_000


def apn_of(account_sid: str) -> str:
    """The account's fragment of the shared APN (the seed: one APN, fragmented per account)."""
    return f"{account_sid[2:14].lower()}.{SHARED_APN}"


async def ensure_defaults(session: AsyncSession, account_sid: str) -> ThingsGroup:
    """The account's default Things Group, with its default Network, pool and empty IP Profile; made on first need
    (with the account, or for an account older than the Things platform). Concurrent first uses make one."""
    found = await repo.default_group(session, account_sid)
    if found is not None:
        return found
    try:
        async with session.begin_nested():
            network = await _new_network(session, account_sid, "default", False)
            session.add(
                IpPool(sid=new_sid(Prefix.IP_POOL), account_sid=account_sid, network_sid=network.sid, cidr=DEFAULT_POOL)
            )
            profile = IpProfile(
                sid=new_sid(Prefix.IP_PROFILE), account_sid=account_sid, name="default", inbound=[], outbound=[]
            )
            profile.default_action = "allow"
            session.add(profile)
            await session.flush()
            group = ThingsGroup(
                sid=new_sid(Prefix.THINGS_GROUP),
                account_sid=account_sid,
                name="default",
                network_sid=network.sid,
                ip_profile_sid=profile.sid,
                default_for=account_sid,
            )
            session.add(group)
            await session.flush()
    except IntegrityError:
        found = await repo.default_group(session, account_sid)
        if found is None:
            raise
        return found
    await repo.assign_default_group(session, account_sid, group.sid)
    return group


async def _new_network(session: AsyncSession, account_sid: str, name: str, isolation: bool) -> ThingsNetwork:
    taken = await repo.public_addresses(session)
    offset = next(n for n in range(PUBLIC_SPAN) if str(ipaddress.IPv4Address(PUBLIC_BASE + n)) not in taken)
    network = ThingsNetwork(
        sid=new_sid(Prefix.PRIVATE_NETWORK),
        account_sid=account_sid,
        name=name,
        apn=apn_of(account_sid),
        device_isolation=isolation,
        public_address=str(ipaddress.IPv4Address(PUBLIC_BASE + offset)),
    )
    session.add(network)
    await session.flush()
    return network


def check_name(value: str | None, field: str = "name") -> str:
    if value is None or not value.strip() or len(value) > 64:
        raise InvalidParameter(field, f"{field} must be 1 to 64 characters")
    return value.strip()


async def network(session: AsyncSession, caller: Caller, sid: str) -> ThingsNetwork:
    await ensure_defaults(session, caller.account_sid)
    found = await repo.owned(session, ThingsNetwork, caller.account_sid, sid)
    if found is None:
        raise NotFound("Network", sid)
    return found


async def network_children(
    session: AsyncSession, caller: Caller, network_sid: str, model: type[Child], spec: PageSpec
) -> Page[Child]:
    """A page of one kind of a Network's own resources (routes, NAT rules, VPN tunnels); 404 for a Network that is
    not the caller's."""
    await network(session, caller, network_sid)
    stmt = repo.listing(model, caller.account_sid, network_sid=network_sid)
    return await repo.page(session, stmt, model.sid, spec)  # type: ignore[attr-defined]


async def network_child(
    session: AsyncSession, caller: Caller, network_sid: str, model: type[Child], sid: str, kind: str
) -> Child:
    """One of a Network's own resources by sid; 404 naming `kind` when the Network or it is not the caller's."""
    await network(session, caller, network_sid)
    found = await repo.owned(session, model, caller.account_sid, sid, network_sid=network_sid)
    if found is None:
        raise NotFound(kind, sid)
    return found


async def list_networks(session: AsyncSession, caller: Caller, spec: PageSpec) -> Page[ThingsNetwork]:
    await ensure_defaults(session, caller.account_sid)
    return await repo.page(session, repo.listing(ThingsNetwork, caller.account_sid), ThingsNetwork.sid, spec)


@dataclass
class NetworkChange:
    name: str | None = None
    device_isolation: bool | None = None


async def create_network(session: AsyncSession, caller: Caller, change: NetworkChange) -> ThingsNetwork:
    name = check_name(change.name)
    return await _new_network(session, caller.account_sid, name, bool(change.device_isolation))


async def update_network(
    session: AsyncSession, caller: Caller, sid: str, change: NetworkChange, if_match: str | None
) -> ThingsNetwork:
    found = await network(session, caller, sid)
    check_if_match(if_match, found.sid, found.date_updated, "Network")
    if change.name is not None:
        found.name = check_name(change.name)
    if change.device_isolation is not None and change.device_isolation != found.device_isolation:
        found.device_isolation = change.device_isolation
        await repo.touch_things(session, await repo.groups_of_network(session, found.sid))
    await session.flush()
    return found


async def delete_network(session: AsyncSession, caller: Caller, sid: str, if_match: str | None) -> None:
    found = await network(session, caller, sid)
    check_if_match(if_match, found.sid, found.date_updated, "Network")
    if await repo.groups_of_network(session, found.sid):
        raise InvalidParameter("id", f"Network {sid} is used by a Things Group; move the group first")
    # Its pools, routes and NAT rules go with it (explicitly: SQLite enforces no ON DELETE CASCADE by default).
    await repo.delete_network_parts(session, found.sid)
    await session.delete(found)
    await session.flush()


# --- IP pools ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PoolUsage:
    size: int
    used: int

    @property
    def available(self) -> int:
        return max(0, self.size - self.used)


async def pool_usage(session: AsyncSession, network_sid: str, pools: list[IpPool]) -> dict[str, PoolUsage]:
    """Per pool: addresses it hands out, and those locked or leased to a live session now (counted from the
    addresses alone, sorted once: the console's network pages show it with tens of thousands of Things)."""
    # inet_aton, not ipaddress: parsing thousands of stored (already checked) addresses cost 20-50 ms in Python.
    held = sorted({int.from_bytes(socket.inet_aton(a), "big") for a in await repo.held_addresses(session, network_sid)})
    usage = {}
    for pool in pools:
        cidr = ipaddress.IPv4Network(pool.cidr)
        first, last = config.pool_hosts(cidr)
        usage[pool.sid] = PoolUsage(config.pool_size(cidr), bisect_right(held, last) - bisect_left(held, first))
    return usage


async def pools_of_network(session: AsyncSession, network_sid: str) -> list[IpPool]:
    return (await repo.pools_of(session, [network_sid]))[network_sid]


async def pools(session: AsyncSession, caller: Caller, network_sid: str) -> list[IpPool]:
    found = await network(session, caller, network_sid)
    return (await repo.pools_of(session, [found.sid]))[found.sid]


async def pool(session: AsyncSession, caller: Caller, network_sid: str, sid: str) -> IpPool:
    return await network_child(session, caller, network_sid, IpPool, sid, "IpPool")


async def create_pool(session: AsyncSession, caller: Caller, network_sid: str, cidr: object) -> IpPool:
    parsed = config.parse_cidr(cidr, "cidr", prefixes=config.POOL_PREFIXES)
    others = await pools(session, caller, network_sid)
    _check_overlap(parsed, [p.cidr for p in others])
    created = IpPool(
        sid=new_sid(Prefix.IP_POOL), account_sid=caller.account_sid, network_sid=network_sid, cidr=str(parsed)
    )
    session.add(created)
    await session.flush()
    await repo.touch_things(session, await repo.groups_of_network(session, network_sid))
    return created


async def resize_pool(
    session: AsyncSession, caller: Caller, network_sid: str, sid: str, cidr: object, if_match: str | None
) -> IpPool:
    found = await pool(session, caller, network_sid, sid)
    check_if_match(if_match, found.sid, found.date_updated, "IpPool")
    parsed = config.parse_cidr(cidr, "cidr", prefixes=config.POOL_PREFIXES)
    others = [p.cidr for p in await pools(session, caller, network_sid) if p.sid != sid]
    _check_overlap(parsed, others)
    await _check_nothing_outside(session, network_sid, ipaddress.IPv4Network(found.cidr), parsed, "cidr")
    found.cidr = str(parsed)
    await session.flush()
    await repo.touch_things(session, await repo.groups_of_network(session, network_sid))
    return found


async def delete_pool(session: AsyncSession, caller: Caller, network_sid: str, sid: str, if_match: str | None) -> None:
    found = await pool(session, caller, network_sid, sid)
    check_if_match(if_match, found.sid, found.date_updated, "IpPool")
    await _check_nothing_outside(session, network_sid, ipaddress.IPv4Network(found.cidr), None, "id")
    await session.delete(found)
    await session.flush()
    await repo.touch_things(session, await repo.groups_of_network(session, network_sid))


def _check_overlap(cidr: ipaddress.IPv4Network, others: list[str]) -> None:
    clash = config.overlapping(cidr, others)
    if clash is not None:
        raise InvalidParameter("cidr", f"cidr {cidr} overlaps the network's pool {clash}")


async def _check_nothing_outside(
    session: AsyncSession,
    network_sid: str,
    old: ipaddress.IPv4Network,
    new: ipaddress.IPv4Network | None,
    field: str,
) -> None:
    """A locked address or a live session's address of the old pool must stay inside the new one."""
    locked, live = await repo.network_addresses(session, network_sid)
    for kind, held in (("locked address", locked), ("address of a live session", live)):
        for address, thing in sorted(held.items()):
            value = ipaddress.IPv4Address(address)
            if config.in_pool(value, old) and (new is None or not config.in_pool(value, new)):
                raise InvalidParameter(field, f"{address}, the {kind} of Thing {thing}, would fall outside the pool")


# --- routes ---------------------------------------------------------------------------------------------------


async def routes(session: AsyncSession, caller: Caller, network_sid: str, spec: PageSpec) -> Page[ThingsRoute]:
    return await network_children(session, caller, network_sid, ThingsRoute, spec)


async def route(session: AsyncSession, caller: Caller, network_sid: str, sid: str) -> ThingsRoute:
    return await network_child(session, caller, network_sid, ThingsRoute, sid, "Route")


async def create_route(
    session: AsyncSession, caller: Caller, network_sid: str, destination: object, target: object
) -> ThingsRoute:
    await network(session, caller, network_sid)
    parsed = config.parse_cidr(destination, "destination", prefixes=range(0, 33))
    if target != config.ROUTE_UPLINK:
        await _check_tunnel_target(session, network_sid, target, parsed)
    clash = config.overlapping(parsed, [p.cidr for p in await pools(session, caller, network_sid)])
    if clash is not None:
        raise InvalidParameter("destination", f"destination {parsed} overlaps the network's own pool {clash}")
    existing = await repo.page(
        session,
        repo.listing(ThingsRoute, caller.account_sid, network_sid=network_sid),
        ThingsRoute.sid,
        PageSpec(size=1000),
    )
    if any(r.destination == str(parsed) for r in existing.items):
        raise InvalidParameter("destination", f"the network has a route to {parsed} already")
    created = ThingsRoute(
        sid=new_sid(Prefix.ROUTE),
        account_sid=caller.account_sid,
        network_sid=network_sid,
        destination=str(parsed),
        target=str(target),
    )
    session.add(created)
    await session.flush()
    return created


async def _check_tunnel_target(
    session: AsyncSession, network_sid: str, target: object, destination: ipaddress.IPv4Network
) -> None:
    """A route through a VPN tunnel of the same Network, to a destination its remote CIDRs cover (charon's traffic
    selectors: anything else would be dropped at the tunnel's entry)."""
    found = None
    if isinstance(target, str):
        stmt = select(VpnTunnel).where(VpnTunnel.network_sid == network_sid, VpnTunnel.sid == target)
        found = (await session.execute(stmt)).scalar_one_or_none()
    if found is None:
        raise InvalidParameter("target", f"target must be {config.ROUTE_UPLINK!r} or the id of a tunnel of the network")
    if not any(destination.subnet_of(ipaddress.IPv4Network(c)) for c in found.remote_cidrs):
        covered = ", ".join(found.remote_cidrs)
        raise InvalidParameter("destination", f"destination {destination} is outside the remoteCidrs {covered}")


async def delete_route(session: AsyncSession, caller: Caller, network_sid: str, sid: str, if_match: str | None) -> None:
    found = await route(session, caller, network_sid, sid)
    check_if_match(if_match, found.sid, found.date_updated, "Route")
    await session.delete(found)
    await session.flush()
