"""Every Things Network is a routing domain of its own (issue 17): this component keeps the data plane's domains in
step with the store's Networks and applies each Network's packet rules in its domain.

    ThingsDomains(ctx, plane, live)   # live(domain) -> {session address: IMSI}, the gateway's sessions there
    .wake(touch)                      # a /things/v1 write committed (services.things_packets hook): apply now

A domain is made at the first attach of one of its Network's Things (the gateway asks, `ensure`, before the session
starts), or as soon as its Network has a NAT rule or a route (they must be in force without a session). It is named
by the Network's id, the value the AAA puts in `Cellplane-Routing-Domain`; it goes with its
Network. Its pools are routed to it, its `uplink` routes go out through the uplink, and its Network's
`publicAddress` becomes the uplink's namespace address (the host reaches it through the veth; NAT rules listen
there). A Network with VPN tunnels has its domain made at once, and its charon run there (network/things_vpn.py).

The rules (domain/nftables.py `domain_commands`) are applied as one nft transaction, in the domain of the Network
that changed only, and as the differences from what is in force there (a Thing's address joins or leaves the maps,
a profile's chains and sets are refilled), whenever what they depend on changes: the stored configuration or the
addresses the Network's Things hold (the gateway's sessions, looked at every 100 ms: a new session's address joins
the maps within that). A write's wake says what it touched (services.things_packets `Touch`): a Thing's row, an IP
Profile's or one Network's configuration is re-read, not every Network's. For changes made another way (the CLI,
bulk actions) a one-query fingerprint of the store is looked at every second, and everything re-read when it moved
(and every 30 s regardless); a Network whose configuration and sessions are as applied costs nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from cellplane.domain.nftables import DomainLayout, InForce, domain_commands
from cellplane.network.dataplane import DataPlane, RoutingDomain, nft
from cellplane.network.dataplane import domain as dataplane_domain
from cellplane.network.things_vpn import ThingsVpn
from cellplane.services import things_packets
from cellplane.services.context import PlatformContext
from cellplane.services.things_packets import NetworkPackets, Touch

log = logging.getLogger("cellplane.things_domains")

LAYOUT = DomainLayout(device_interface=dataplane_domain.TUN, uplink=dataplane_domain.UPLINK)
RELOAD_EVERY = 1.0  # look whether anything changed (a fingerprint query) and re-read all if so
FULL_RELOAD_EVERY = 30.0  # re-read all regardless (what a fingerprint cannot see)
LOOK_EVERY = 0.1
NETWORK_PREFIX = "PN"
RETRY_AFTER = 5.0

LiveAddresses = Callable[[str], Mapping[str, str]]


class _Applied:
    """What is in force in one domain: the next change applies the differences only, and none when the Network's
    configuration (the same object) and its sessions are as they were."""

    def __init__(self) -> None:
        self.rules: InForce | None = None
        self.source: NetworkPackets | None = None
        self.live: Mapping[str, str] | None = None
        self.pools: set[str] = set()
        self.routes: set[str] = set()


class ThingsDomains:
    """A component: start/stop; wake() after a committed change."""

    def __init__(
        self, ctx: PlatformContext, plane: DataPlane, live: LiveAddresses, vpn: ThingsVpn | None = None
    ) -> None:
        self.ctx = ctx
        self.plane = plane
        self.live = live
        self.vpn = vpn  # None: VPN tunnels are not run here (no charon on this host)
        self.networks: dict[str, NetworkPackets] = {}
        self.applied: dict[str, _Applied] = {}
        self.applies = 0  # transactions applied (tests and the bench read it)
        self._wake = asyncio.Event()
        self._touched: list[Touch] = []
        self._everything = False
        self._task: asyncio.Task[None] | None = None
        self._loaded_at = 0.0
        self._full_at = 0.0
        self._fingerprint: tuple[Any, ...] | None = None
        self._failed: dict[str, float] = {}
        self._lock = asyncio.Lock()

    def wake(self, touch: Touch | None = None) -> None:
        """A write committed: re-read what it touched (None: anything may have changed) and apply it now."""
        if touch is None:
            self._everything = True
        else:
            self._touched.append(touch)
        self._wake.set()

    async def start(self) -> None:
        if not self.plane.enabled:
            return
        await self._reload()
        await self._sync()
        self._task = asyncio.create_task(self._run(), name="things-domains")
        if self.vpn is not None:
            await self.vpn.start()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self.vpn is not None:
            await self.vpn.stop()

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), LOOK_EVERY)
            try:
                woken = self._wake.is_set()
                self._wake.clear()
                touched, self._touched = self._touched, []
                everything, self._everything = self._everything, False
                now = time.monotonic()
                if everything or now - self._full_at >= FULL_RELOAD_EVERY:
                    await self._reload()
                elif woken and touched:
                    await self._refresh(touched)  # first: a write's change is not held up by a re-read of all
                elif now - self._loaded_at >= RELOAD_EVERY:
                    await self._reload(only_if_changed=True)
                await self._sync()
            except asyncio.CancelledError:
                raise
            except Exception:
                self._everything = True  # what the failed pass was to re-read: all of it, next time
                log.exception("things domains: could not read the Networks; retrying")
                await asyncio.sleep(RETRY_AFTER)

    async def _reload(self, only_if_changed: bool = False) -> None:
        """Every Network re-read (with `only_if_changed`, only when the store's fingerprint moved since the last
        re-read: an idle store costs one small query a second, not every Thing's row); one found as it was keeps
        its object (its domain is then not looked at again)."""
        self._loaded_at = time.monotonic()
        async with self.ctx.sessions() as session:
            fingerprint = await things_packets.fingerprint(session)  # before the rows: a later change moves it
            if only_if_changed and fingerprint == self._fingerprint:
                return
            loaded = await things_packets.load(session)
        self._fingerprint = fingerprint
        if not only_if_changed:
            self._full_at = self._loaded_at
        self.networks = {sid: _same(self.networks.get(sid), network) for sid, network in loaded.items()}

    async def _refresh(self, touched: list[Touch]) -> None:
        """Re-read only what the writes touched: a Thing's row, an IP Profile's rules, or one Network whole."""
        whole: set[str] = set()
        async with self.ctx.sessions() as session:
            for touch in touched:
                if touch.kind == things_packets.THING:
                    whole |= await self._refresh_thing(session, touch.key)
                elif touch.kind == things_packets.PROFILE:
                    profile = await things_packets.profile(session, touch.key)
                    for sid, network in list(self.networks.items()):
                        if touch.key in network.profiles and profile is not None:
                            self.networks[sid] = network.with_profile(touch.key, profile)
                elif touch.kind == things_packets.GROUP:
                    whole |= {sid for sid, n in self.networks.items() if touch.key in n.groups}
                    now = await things_packets.group_network(session, touch.key)
                    whole |= {now} if now is not None else set()
                elif touch.kind == things_packets.NETWORK:
                    whole.add(touch.key)
            if whole:
                loaded = await things_packets.load(session, whole)
                for sid in whole:
                    if sid in loaded:
                        self.networks[sid] = _same(self.networks.get(sid), loaded[sid])
                    else:
                        self.networks.pop(sid, None)

    async def _refresh_thing(self, session: AsyncSession, key: str) -> set[str]:
        """The Thing's entries move from the Network that held it to the one it is in now (map elements, not a
        reload); a Thing that NAT rules forward to has its Networks re-read whole (the rules follow its address)."""
        placed = await things_packets.thing(session, key)
        if placed is None:
            return set()
        held = {sid for sid, n in self.networks.items() if placed.sid in n.things}
        involved = held | ({placed.network_sid} if placed.network_sid else set())
        if any(placed.sid in self.networks[sid].forwarded_things for sid in involved if sid in self.networks):
            return involved
        if placed.network_sid is not None and placed.network_sid not in self.networks:
            return involved  # a Network not read yet (made since the last reload)
        for sid in held - {placed.network_sid}:
            self.networks[sid] = self.networks[sid].without_thing(placed.sid)
        if placed.network_sid is not None:
            network = self.networks[placed.network_sid]
            if network.things.get(placed.sid) != (placed.imsi, placed.locked_ip) or (
                network.profile_of_imsi.get(placed.imsi) != placed.profile_sid
            ):
                self.networks[placed.network_sid] = network.with_thing(placed)
        return set()

    async def ensure(self, name: str) -> None:
        """The gateway's `missing_domain`: the AAA put a session in Network `name`, whose domain is not made yet;
        make it, its rules in force, before the session starts."""
        if not name.startswith(NETWORK_PREFIX) or not self.plane.enabled:
            return
        async with self._lock:
            if name not in self.networks:
                await self._reload()
            network = self.networks.get(name)
            if network is None or self.plane.domain(name) is not None:
                return
            try:
                await self._apply(network, await self._create(network))
            except Exception:
                log.exception("things domains: network %s has no routing domain", name)

    async def _sync(self) -> None:
        async with self._lock:
            await self._sync_locked()

    async def _sync_locked(self) -> None:
        for name in [n for n in self.plane.domains if n.startswith(NETWORK_PREFIX) and n not in self.networks]:
            log.info("network %s is gone: removing its routing domain", name)
            self.applied.pop(name, None)
            if self.vpn is not None:
                await self.vpn.forget(name)
            await self.plane.remove_domain(name)
        now = time.monotonic()
        for sid, network in self.networks.items():
            if self._failed.get(sid, 0.0) > now:
                continue
            try:
                domain = self.plane.domain(sid)
                if domain is None and not (network.forwards or network.uplink_routes or network.tunnels):
                    continue  # made at its first attach (ensure): an unused Network costs no namespace
                if domain is None:
                    domain = await self._create(network)
                await self._apply(network, domain)
            except Exception:
                # One Network's failure (no /30 left in the link subnet, say) holds up neither the others nor the
                # loop; it is tried again a little later.
                log.exception("things domains: network %s could not be applied; again in %.0f s", sid, RETRY_AFTER)
                self._failed[sid] = now + RETRY_AFTER

    async def _create(self, network: NetworkPackets) -> RoutingDomain:
        domain = await self.plane.create_domain(network.sid, network.pools, isolation=network.isolation)
        applied = self.applied[network.sid] = _Applied()
        applied.pools = set(network.pools)
        if network.public_address != domain.link.inside:
            async with self.ctx.sessions() as session, session.begin():
                await things_packets.assign_public_address(session, network.sid, domain.link.inside)
            self._full_at = 0.0  # re-read all: the Network's address changed
        return domain

    async def _apply(self, network: NetworkPackets, domain: RoutingDomain) -> None:
        applied = self.applied.setdefault(network.sid, _Applied())
        for pool in set(network.pools) - applied.pools:
            await domain.add_pool(pool)
            applied.pools.add(pool)
        for pool in applied.pools - set(network.pools):
            with contextlib.suppress(Exception):
                await domain.delete_route(pool)
            applied.pools.discard(pool)
            if pool in domain.pools:
                domain.pools.remove(pool)
        for route in set(network.uplink_routes) - applied.routes:
            await domain.add_route(route, domain.link.host)
            applied.routes.add(route)
        for route in applied.routes - set(network.uplink_routes):
            with contextlib.suppress(Exception):
                await domain.delete_route(route)
            applied.routes.discard(route)
        live = self.live(network.sid)
        if applied.source is not network or applied.live != live:
            rules = network.rules(live, LAYOUT.device_interface, domain.link.inside)
            commands, in_force = domain_commands(rules, LAYOUT, applied.rules)
            if commands:
                await nft.transaction(domain.namespace, commands)
                self.applies += 1
            applied.rules, applied.source, applied.live = in_force, network, dict(live)
            domain.isolation = rules.isolation
        if self.vpn is not None:
            # Every pass: reconciling charon is cheap when nothing changed, and it restarts a charon that died.
            try:
                await self.vpn.apply(network, domain)
            except Exception:
                # The Network's packet rules are in force whatever charon does; the VPN is tried again later.
                log.exception("things domains: the VPN tunnels of network %s could not be applied", network.sid)


def _same(old: NetworkPackets | None, new: NetworkPackets) -> NetworkPackets:
    """`old` when `new` says the same (so the Network counts as applied), else `new`."""
    return old if old is not None and old == new else new
