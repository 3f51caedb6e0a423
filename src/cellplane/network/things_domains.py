"""Every Things Network is a routing domain of its own (issue 17): this component keeps the data plane's domains in
step with the store's Networks and applies each Network's packet rules in its domain.

    ThingsDomains(ctx, plane, live)   # live(domain) -> {session address: IMSI}, the gateway's sessions there
    .wake()                           # a /things/v1 write committed (services.things_packets hook): apply now

A domain is made at the first attach of one of its Network's Things (the gateway asks, `ensure`, before the session
starts), or as soon as its Network has a NAT rule or a route (they must be in force without a session). It is named
by the Network's id, the value the AAA puts in `Cellplane-Routing-Domain`; it goes with its
Network. Its pools are routed to it, its `uplink` routes go out through the uplink, and its Network's
`publicAddress` becomes the uplink's namespace address (the host reaches it through the veth; NAT rules listen
there). A Network with VPN tunnels has its domain made at once, and its charon run there (network/things_vpn.py).

The rules (domain/nftables.py `domain_commands`) are rebuilt whole and applied as one nft transaction whenever what
they depend on changes: the stored configuration (re-read on every wake and every second) or the addresses the
Network's Things hold (the gateway's sessions, looked at every 100 ms: a new session's address joins the maps
within that). Identical rules are not applied again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from cellplane.domain.nftables import DomainLayout, domain_commands, profile_chains
from cellplane.network.dataplane import DataPlane, RoutingDomain, nft
from cellplane.network.dataplane import domain as dataplane_domain
from cellplane.network.things_vpn import ThingsVpn
from cellplane.services import things_packets
from cellplane.services.context import PlatformContext
from cellplane.services.things_packets import NetworkPackets

log = logging.getLogger("cellplane.things_domains")

LAYOUT = DomainLayout(device_interface=dataplane_domain.TUN, uplink=dataplane_domain.UPLINK)
RELOAD_EVERY = 1.0
LOOK_EVERY = 0.1
NETWORK_PREFIX = "PN"
RETRY_AFTER = 5.0

LiveAddresses = Callable[[str], Mapping[str, str]]


class _Applied:
    """What is in force in one domain (so an unchanged ruleset is not applied again)."""

    def __init__(self) -> None:
        self.key: Any = None
        self.chains: list[str] = []
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
        self._task: asyncio.Task[None] | None = None
        self._loaded_at = 0.0
        self._failed: dict[str, float] = {}
        self._lock = asyncio.Lock()

    def wake(self) -> None:
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
                if self._wake.is_set() or time.monotonic() - self._loaded_at >= RELOAD_EVERY:
                    self._wake.clear()
                    await self._reload()
                await self._sync()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("things domains: could not read the Networks; retrying")
                await asyncio.sleep(RETRY_AFTER)

    async def _reload(self) -> None:
        self._loaded_at = time.monotonic()
        async with self.ctx.sessions() as session:
            self.networks = await things_packets.load(session)

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
            self._loaded_at = 0.0  # re-read: the Network's address changed
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
        rules = network.rules(self.live(network.sid), LAYOUT.device_interface, domain.link.inside)
        key = (rules.isolation, tuple(sorted(rules.devices.items())), tuple(rules.forwards), _profiles_key(rules))
        if key != applied.key:
            await nft.transaction(domain.namespace, domain_commands(rules, LAYOUT, applied.chains))
            applied.key, applied.chains = key, profile_chains(rules)
            domain.isolation = rules.isolation
            self.applies += 1
        if self.vpn is not None:
            try:
                await self.vpn.apply(network, domain)
            except Exception:
                # The Network's packet rules are in force whatever charon does; the VPN is tried again later.
                log.exception("things domains: the VPN tunnels of network %s could not be applied", network.sid)


def _profiles_key(rules: Any) -> tuple[Any, ...]:
    return tuple(
        (sid, tuple(p.inbound), tuple(p.outbound), p.default_action) for sid, p in sorted(rules.profiles.items())
    )
