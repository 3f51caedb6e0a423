"""What a Things Network's packets obey (THINGS.md), read from the store for the data plane: its pools, routes to
the uplink, device isolation, the IP Profiles of its groups, which Thing is in which group, and its NAT rules.

The network layer (network/things_domains.py) turns this into one routing domain per Network and applies it there;
this module knows nothing of namespaces. A write to /things/v1 calls `changed` with what it touched (a `Touch`: a
Thing, an IP Profile, a group, a Network), whose hooks (the runtime registers the data plane's) re-read just that
(`thing`, `profile`, `group_network`, `load(networks=...)`) and re-apply the Networks it is in at once; the data
plane also re-reads everything on its own every second, so a change made another way (the CLI provisioning Things,
a bulk action) is in force soon after too.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import Select, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from cellplane.domain import things_config as config
from cellplane.domain.nftables import Forward, NetworkRules, Profile
from cellplane.domain.things import PRODUCT
from cellplane.services import things_vpn
from cellplane.services.context import PlatformContext
from cellplane.services.things_networks import PUBLIC_BASE, PUBLIC_SPAN
from cellplane.services.things_vpn import TunnelSpec
from cellplane.store.models import IpPool, IpProfile, NatRule, Sim, ThingsGroup, ThingsNetwork, ThingsRoute

HOOK = "things_packets_changed"
UPLINK_TARGET = "uplink"


THING, PROFILE, GROUP, NETWORK = "thing", "profile", "group", "network"


@dataclass(frozen=True)
class Touch:
    """What a write changed: a Thing (by sid or ICCID), an IP Profile, a Things Group or a Network (and what hangs
    off it: pools, routes, NAT rules), by its id; `changed` without one means anything may have."""

    kind: str
    key: str


def changed(ctx: PlatformContext, touch: Touch | None = None) -> None:
    """A /things/v1 write committed: whatever applies packet rules re-reads what it touched now."""
    for hook in ctx.hooks.get(HOOK, []):
        hook(touch)


@dataclass(frozen=True)
class Placement:
    """Where one Thing's packets belong: its Network and its group's profile (None: in no group)."""

    sid: str
    imsi: str
    network_sid: str | None
    profile_sid: str | None
    locked_ip: str | None


@dataclass(frozen=True)
class NetworkPackets:
    """One Network's packet configuration; `rules(live)` adds the addresses its Things hold right now."""

    sid: str
    isolation: bool
    public_address: str
    pools: tuple[str, ...]
    uplink_routes: tuple[str, ...]
    profiles: Mapping[str, Profile] = field(default_factory=dict)
    profile_of_imsi: Mapping[str, str] = field(default_factory=dict)  # IMSI -> its group's profile id
    locked: Mapping[str, str] = field(default_factory=dict)  # locked address -> its Thing's profile id
    forwards: tuple[tuple[str, int, str, int], ...] = ()  # (protocol, public port, private address, private port)
    tunnels: tuple[TunnelSpec, ...] = ()  # its VPN tunnels (network/things_vpn.py runs them)
    tunnel_routes: tuple[tuple[str, str], ...] = ()  # (destination, tunnel id): routes through a tunnel
    things: Mapping[str, tuple[str, str | None]] = field(default_factory=dict)  # Thing sid -> (IMSI, locked address)
    groups: frozenset[str] = frozenset()
    forwarded_things: frozenset[str] = frozenset()  # Things a NAT rule forwards to (by their locked address)

    def without_thing(self, sid: str) -> NetworkPackets:
        """The Network without Thing `sid` (itself if it holds no such Thing)."""
        held = self.things.get(sid)
        if held is None:
            return self
        imsi, locked = held
        things, by_imsi, addresses = dict(self.things), dict(self.profile_of_imsi), dict(self.locked)
        del things[sid]
        by_imsi.pop(imsi, None)
        if locked is not None:
            addresses.pop(locked, None)
        return replace(self, things=things, profile_of_imsi=by_imsi, locked=addresses)

    def with_thing(self, thing: Placement) -> NetworkPackets:
        """The Network with `thing` in it as placed (replacing what it held of the Thing before)."""
        base = self.without_thing(thing.sid)
        if thing.profile_sid is None:
            return base
        things, by_imsi, addresses = dict(base.things), dict(base.profile_of_imsi), dict(base.locked)
        things[thing.sid] = (thing.imsi, thing.locked_ip)
        by_imsi[thing.imsi] = thing.profile_sid
        if thing.locked_ip:
            addresses[thing.locked_ip] = thing.profile_sid
        return replace(base, things=things, profile_of_imsi=by_imsi, locked=addresses)

    def with_profile(self, sid: str, profile: Profile) -> NetworkPackets:
        return replace(self, profiles={**self.profiles, sid: profile})

    def rules(self, live: Mapping[str, str], device_interface: str, public_address: str) -> NetworkRules:
        """The Network's rules with `live` (session address -> IMSI) and locked addresses; NAT rules listen on
        `public_address` (where the data plane receives them)."""
        devices = dict(self.locked)
        for address, imsi in live.items():
            profile = self.profile_of_imsi.get(imsi)
            if profile is not None:
                devices[address] = profile
        return NetworkRules(
            device_interface=device_interface,
            profiles=self.profiles,
            devices=devices,
            isolation=self.isolation,
            forwards=tuple(Forward(p, public_address, port, ip, to) for p, port, ip, to in self.forwards),
        )


async def load(session: AsyncSession, only: Collection[str] | None = None) -> dict[str, NetworkPackets]:
    """Every Things Network's packet configuration (or only the Networks `only` names: the others' Things and
    rules are not read), in a handful of queries (not one per Network or Thing). A Network of `only` that is gone
    is missing from the answer."""

    def of(stmt: Any, column: Any) -> Any:
        return stmt if only is None else stmt.where(column.in_(list(only)))

    networks = (await session.execute(of(select(ThingsNetwork), ThingsNetwork.sid))).scalars().all()
    pools: dict[str, list[str]] = {}
    for pool in (await session.execute(of(select(IpPool), IpPool.network_sid))).scalars():
        pools.setdefault(pool.network_sid, []).append(pool.cidr)
    routes: dict[str, list[str]] = {}
    through: dict[str, list[tuple[str, str]]] = {}
    for route in (await session.execute(of(select(ThingsRoute), ThingsRoute.network_sid))).scalars():
        if route.target == UPLINK_TARGET:
            routes.setdefault(route.network_sid, []).append(route.destination)
        else:
            through.setdefault(route.network_sid, []).append((route.destination, route.target))
    tunnels = await things_vpn.specs(session)
    groups = {g.sid: g for g in (await session.execute(of(select(ThingsGroup), ThingsGroup.network_sid))).scalars()}
    wanted = select(IpProfile).where(IpProfile.sid.in_({g.ip_profile_sid for g in groups.values()}))
    profiles = {
        p.sid: _profile(p) for p in (await session.execute(wanted if only is not None else select(IpProfile))).scalars()
    }
    used: dict[str, dict[str, Profile]] = {}
    by_imsi: dict[str, dict[str, str]] = {}
    locked: dict[str, dict[str, str]] = {}
    held: dict[str, dict[str, tuple[str, str | None]]] = {}
    locked_of: dict[str, str] = {}
    for group in groups.values():
        used.setdefault(group.network_sid, {})[group.ip_profile_sid] = profiles[group.ip_profile_sid]
    things = select(Sim.sid, Sim.imsi, Sim.things_group_sid, Sim.locked_ip).where(Sim.product == PRODUCT)
    if only is not None:
        things = things.where(Sim.things_group_sid.in_(list(groups)))
    for sid, imsi, group_sid, locked_ip in (await session.execute(things)).all():
        group = groups.get(group_sid or "")
        if group is None:
            continue
        by_imsi.setdefault(group.network_sid, {})[imsi] = group.ip_profile_sid
        held.setdefault(group.network_sid, {})[sid] = (imsi, locked_ip or None)
        if locked_ip:
            locked.setdefault(group.network_sid, {})[locked_ip] = group.ip_profile_sid
            locked_of[sid] = locked_ip
    forwards: dict[str, list[tuple[str, int, str, int]]] = {}
    forwarded: dict[str, set[str]] = {}
    for rule in (await session.execute(of(select(NatRule), NatRule.network_sid).order_by(NatRule.sid))).scalars():
        if rule.thing_sid:
            forwarded.setdefault(rule.network_sid, set()).add(rule.thing_sid)
        address = rule.private_ip or locked_of.get(rule.thing_sid or "")
        if address is not None:
            forwards.setdefault(rule.network_sid, []).append(
                (rule.protocol, rule.public_port, address, rule.private_port)
            )
    group_sids: dict[str, set[str]] = {}
    for group in groups.values():
        group_sids.setdefault(group.network_sid, set()).add(group.sid)
    return {
        n.sid: NetworkPackets(
            sid=n.sid,
            isolation=n.device_isolation,
            public_address=n.public_address,
            pools=tuple(sorted(pools.get(n.sid, ()))),
            uplink_routes=tuple(sorted(routes.get(n.sid, ()))),
            profiles=used.get(n.sid, {}),
            profile_of_imsi=by_imsi.get(n.sid, {}),
            locked=locked.get(n.sid, {}),
            forwards=tuple(forwards.get(n.sid, ())),
            tunnels=tuple(tunnels.get(n.sid, ())),
            tunnel_routes=tuple(sorted(through.get(n.sid, ()))),
            things=held.get(n.sid, {}),
            groups=frozenset(group_sids.get(n.sid, ())),
            forwarded_things=frozenset(forwarded.get(n.sid, ())),
        )
        for n in networks
    }


def _fingerprint_statement() -> Select[Any]:
    parts = []
    for model in (ThingsNetwork, IpPool, ThingsRoute, IpProfile, ThingsGroup, NatRule, Sim):
        for column in (func.count(), func.max(model.date_updated)):
            stmt = select(column).select_from(model)
            parts.append((stmt.where(Sim.product == PRODUCT) if model is Sim else stmt).scalar_subquery())
    return select(*parts)


# Built once: the gateway's routing domains look at it every second on the loop that carries device packets, and
# building these fourteen subqueries (and their cache key) cost about 1 ms of Python each time.
_FINGERPRINT = _fingerprint_statement()


async def fingerprint(session: AsyncSession) -> tuple[Any, ...]:
    """A cheap summary of what `load` reads: each table's row count and latest `date_updated` (one query, no row
    read). Equal to an earlier one, a re-read would almost surely find the same; a change it cannot see (a
    transaction that committed after a later one, its `date_updated` older) waits for the next full re-read."""
    row = (await session.execute(_FINGERPRINT)).one()
    return tuple(row)


async def thing(session: AsyncSession, key: str) -> Placement | None:
    """Where Thing `key` (sid or ICCID) belongs now; None if there is no such Thing."""
    stmt = (
        select(Sim.sid, Sim.imsi, ThingsGroup.network_sid, ThingsGroup.ip_profile_sid, Sim.locked_ip)
        .outerjoin(ThingsGroup, ThingsGroup.sid == Sim.things_group_sid)
        .where(Sim.product == PRODUCT, or_(Sim.sid == key, Sim.iccid == key))
    )
    row = (await session.execute(stmt)).first()
    if row is None:
        return None
    sid, imsi, network_sid, profile_sid, locked_ip = row
    return Placement(sid, imsi, network_sid, profile_sid, locked_ip or None)


async def profile(session: AsyncSession, sid: str) -> Profile | None:
    """IP Profile `sid`'s rules now; None if it is gone."""
    found = await session.get(IpProfile, sid)
    return _profile(found) if found is not None else None


async def group_network(session: AsyncSession, sid: str) -> str | None:
    """The Network of Things Group `sid` now; None if it is gone."""
    return (await session.execute(select(ThingsGroup.network_sid).where(ThingsGroup.sid == sid))).scalar()


def _profile(row: IpProfile) -> Profile:
    return Profile(
        tuple(config.parse_rules(row.inbound, "inbound")),
        tuple(config.parse_rules(row.outbound, "outbound")),
        row.default_action,
    )


async def assign_public_address(session: AsyncSession, network_sid: str, address: str) -> None:
    """The Network's NAT rules listen on `address` (the data plane's, once its domain exists). A Network that held it
    before (from an earlier run, whose uplinks were numbered differently) gets a placeholder back (127.100.x.y, as
    Networks have while the data plane is off), since the column is unique."""
    holder = (
        await session.execute(
            select(ThingsNetwork.sid).where(ThingsNetwork.public_address == address, ThingsNetwork.sid != network_sid)
        )
    ).scalar()
    if holder is not None:
        taken = set((await session.execute(select(ThingsNetwork.public_address))).scalars())
        spare = next(
            str(ipaddress.IPv4Address(PUBLIC_BASE + n))
            for n in range(PUBLIC_SPAN)
            if str(ipaddress.IPv4Address(PUBLIC_BASE + n)) not in taken
        )
        await session.execute(update(ThingsNetwork).where(ThingsNetwork.sid == holder).values(public_address=spare))
    await session.execute(update(ThingsNetwork).where(ThingsNetwork.sid == network_sid).values(public_address=address))
