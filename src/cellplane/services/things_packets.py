"""What a Things Network's packets obey (THINGS.md), read from the store for the data plane: its pools, routes to
the uplink, device isolation, the IP Profiles of its groups, which Thing is in which group, and its NAT rules.

The network layer (network/things_domains.py) turns this into one routing domain per Network and applies it there;
this module knows nothing of namespaces. A write to /things/v1 calls `changed`, whose hooks (the runtime registers
the data plane's) re-apply the rules at once; the data plane also re-reads on its own every second, so a change
made another way (the CLI provisioning Things, say) is in force soon after too.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy import select, update
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


def changed(ctx: PlatformContext) -> None:
    """A /things/v1 write committed: whatever applies packet rules re-reads them now."""
    for hook in ctx.hooks.get(HOOK, []):
        hook()


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


async def load(session: AsyncSession) -> dict[str, NetworkPackets]:
    """Every Things Network's packet configuration, in a handful of queries (not one per Network or Thing)."""
    networks = (await session.execute(select(ThingsNetwork))).scalars().all()
    pools: dict[str, list[str]] = {}
    for pool in (await session.execute(select(IpPool))).scalars():
        pools.setdefault(pool.network_sid, []).append(pool.cidr)
    routes: dict[str, list[str]] = {}
    through: dict[str, list[tuple[str, str]]] = {}
    for route in (await session.execute(select(ThingsRoute))).scalars():
        if route.target == UPLINK_TARGET:
            routes.setdefault(route.network_sid, []).append(route.destination)
        else:
            through.setdefault(route.network_sid, []).append((route.destination, route.target))
    tunnels = await things_vpn.specs(session)
    profiles = {
        p.sid: Profile(
            config.parse_rules(p.inbound, "inbound"), config.parse_rules(p.outbound, "outbound"), p.default_action
        )
        for p in (await session.execute(select(IpProfile))).scalars()
    }
    groups = {g.sid: g for g in (await session.execute(select(ThingsGroup))).scalars()}
    used: dict[str, dict[str, Profile]] = {}
    by_imsi: dict[str, dict[str, str]] = {}
    locked: dict[str, dict[str, str]] = {}
    locked_of: dict[str, str] = {}
    for group in groups.values():
        used.setdefault(group.network_sid, {})[group.ip_profile_sid] = profiles[group.ip_profile_sid]
    things = select(Sim.sid, Sim.imsi, Sim.things_group_sid, Sim.locked_ip).where(Sim.product == PRODUCT)
    for sid, imsi, group_sid, locked_ip in (await session.execute(things)).all():
        group = groups.get(group_sid or "")
        if group is None:
            continue
        by_imsi.setdefault(group.network_sid, {})[imsi] = group.ip_profile_sid
        if locked_ip:
            locked.setdefault(group.network_sid, {})[locked_ip] = group.ip_profile_sid
            locked_of[sid] = locked_ip
    forwards: dict[str, list[tuple[str, int, str, int]]] = {}
    for rule in (await session.execute(select(NatRule).order_by(NatRule.sid))).scalars():
        address = rule.private_ip or locked_of.get(rule.thing_sid or "")
        if address is not None:
            forwards.setdefault(rule.network_sid, []).append(
                (rule.protocol, rule.public_port, address, rule.private_port)
            )
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
        )
        for n in networks
    }


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
