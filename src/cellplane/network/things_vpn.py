"""A Things Network's VPN tunnels in its routing domain (issue 20): one strongSwan charon per domain that has tunnels,
kept in step with the store, and charon's view of each tunnel written back.

    vpn = ThingsVpn(ctx, timing)
    await vpn.apply(network, domain)   # network/things_domains.py, on every pass: charon, connections, routes
    await vpn.forget(name)             # the domain is going: its charon stops
    await vpn.start() / stop()         # the state poller; stop() stops every charon

Each tunnel is a charon connection named by the tunnel's id: IKEv2 from the domain's uplink address (the Network's
`publicAddress`) to `peerAddress`, pre-shared keys identified by those addresses, ESP in UDP (kernel-libipsec),
traffic selectors `localCidrs` === `remoteCidrs`, started at once (`start_action = start`), restarted by charon on
dead-peer detection or when the site closes it, retried for ever (`keyingtries = 0`). The domain routes the peer's
address out through its uplink, and each route whose target is a tunnel into `ipsec0`.

Every POLL_EVERY the poller asks each charon for its SAs (list-sas) and reads new failures from its log, and records
each tunnel's state, bytes and establishment time (services/things_vpn.record: an up/down change becomes a
connection event and a webhook). A tunnel charon has given up on (no IKE SA at all for a while) is initiated again.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from cellplane.network.dataplane import RoutingDomain
from cellplane.network.dataplane.charon import DEVICE, Charon, CharonError, IkeSa, Timing
from cellplane.network.dataplane.charon import sweep as charon_sweep
from cellplane.services import things_vpn
from cellplane.services.context import PlatformContext
from cellplane.services.things_packets import NetworkPackets
from cellplane.services.things_vpn import CONNECTING, DOWN, UP, Observed, TunnelSpec
from cellplane.store.models.base import utcnow

log = logging.getLogger("cellplane.vpn")

POLL_EVERY = 0.5
RETRY_AFTER = 5.0  # a charon that would not start is tried again this much later
REINITIATE_AFTER = 5.0  # a tunnel charon gave up on is initiated again after this (or the DPD interval, if longer)


@dataclass
class _Domain:
    """What is in force in one domain: its charon, the connections loaded (tunnel id -> configuration key), the peer
    routes and the routes into ipsec0."""

    charon: Charon
    loaded: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)  # tunnel id -> why charon refused it
    peers: set[str] = field(default_factory=set)
    addresses: set[str] = field(default_factory=set)  # on the domain's lo: one of each local CIDR (kernel-libipsec)
    routes: set[str] = field(default_factory=set)


@dataclass
class _Seen:
    """What the poller last knew of a tunnel (so an unchanged tunnel is not written again)."""

    up_since: tuple[str, Any] | None = None  # (IKE SA unique id, establishment time)
    was_up: bool = False
    error: str | None = None
    idle_since: float | None = None  # since when charon has had no IKE SA for it at all (monotonic)
    base: tuple[int, int] = (0, 0)  # what the store held when this process loaded the tunnel
    children: dict[str, tuple[int, int]] = field(default_factory=dict)  # every CHILD_SA seen: its last counts

    @property
    def bytes(self) -> tuple[int, int]:
        """Bytes over the tunnel's life: across rekeys, reconnections and platform restarts (CHILD_SA counters
        start at zero with each SA)."""
        return (
            self.base[0] + sum(c[0] for c in self.children.values()),
            self.base[1] + sum(c[1] for c in self.children.values()),
        )


class ThingsVpn:
    """The VPN side of the Things domains; a component (start/stop)."""

    def __init__(self, ctx: PlatformContext, timing: Timing) -> None:
        self.ctx = ctx
        self.timing = timing
        self.domains: dict[str, _Domain] = {}
        self.seen: dict[str, _Seen] = {}
        self._task: asyncio.Task[None] | None = None
        self._retry_at: dict[str, float] = {}

    async def start(self) -> None:
        await asyncio.to_thread(charon_sweep)
        self._task = asyncio.create_task(self._poll_forever(), name="things-vpn")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for name in list(self.domains):
            await self.forget(name)

    # --- configuration ------------------------------------------------------------------------------------------

    async def apply(self, network: NetworkPackets, domain: RoutingDomain) -> None:
        """Bring the domain's charon, connections and routes in line with `network`; a domain whose last tunnel
        went has its charon stopped."""
        state = self.domains.get(domain.name)
        if not network.tunnels:
            if state is not None:
                await self._stop_domain(domain, state)
            return
        if state is None or not state.charon.running:
            if state is not None:
                await self._stop_domain(domain, state)
            if self._retry_at.get(domain.name, 0.0) > time.monotonic():
                return
            charon = Charon(domain.namespace, self.timing)
            try:
                await charon.start()
            except CharonError:
                self._retry_at[domain.name] = time.monotonic() + RETRY_AFTER
                raise
            state = self.domains[domain.name] = _Domain(charon)
            await domain.forward_on_host(True)
        addresses = {str(ipaddress.IPv4Network(c).network_address) for t in network.tunnels for c in t.local_cidrs}
        for address in addresses - state.addresses:
            await domain.set_local_address(address, True)
            state.addresses.add(address)
        for address in state.addresses - addresses:
            await domain.set_local_address(address, False)
            state.addresses.discard(address)
        wanted = {t.sid: t for t in network.tunnels}
        for sid in [s for s in state.loaded if s not in wanted or state.loaded[s] != wanted[s].key]:
            await state.charon.unload(sid)
            del state.loaded[sid]
            self.seen.pop(sid, None)
        for sid in [s for s in state.refused if s not in wanted]:
            del state.refused[sid]
        for sid, tunnel in wanted.items():
            if sid in state.loaded or state.refused.get(sid) == repr(tunnel.key):
                continue
            try:
                await state.charon.load(
                    sid, self._connection(tunnel, domain), tunnel.pre_shared_key, self._owners(tunnel, domain)
                )
            except CharonError as error:
                # Checked before it was stored, so this is charon's own refusal: said on the tunnel, not retried
                # until the tunnel changes.
                log.warning("charon refused tunnel %s: %s", sid, error)
                state.refused[sid] = repr(tunnel.key)
                self.seen.setdefault(sid, _Seen()).error = f"charon refused the configuration: {error}"[:256]
                continue
            state.loaded[sid] = tunnel.key
            self.seen[sid] = _Seen(base=(tunnel.bytes_in, tunnel.bytes_out))
        peers = {f"{t.peer_address}/32" for t in network.tunnels}
        for peer in peers - state.peers:
            await domain.add_route(peer, domain.link.host)
            state.peers.add(peer)
        for peer in state.peers - peers:
            with contextlib.suppress(Exception):
                await domain.delete_route(peer)
            state.peers.discard(peer)
        routes = {destination for destination, sid in network.tunnel_routes if sid in state.loaded}
        for destination in routes - state.routes:
            await domain.add_device_route(destination, DEVICE)
            state.routes.add(destination)
        for destination in state.routes - routes:
            with contextlib.suppress(Exception):
                await domain.delete_route(destination)
            state.routes.discard(destination)

    def _connection(self, tunnel: TunnelSpec, domain: RoutingDomain) -> dict[str, Any]:
        local = domain.link.inside
        return {
            "version": "2",
            "local_addrs": [local],
            "remote_addrs": [tunnel.peer_address],
            "encap": "yes",  # kernel-libipsec does ESP in UDP only
            "mobike": "no",
            "proposals": tunnel.ike_proposal.split(","),
            "dpd_delay": f"{self.timing.dpd}s",
            "keyingtries": "0",
            "local": {"auth": "psk", "id": local},
            "remote": {"auth": "psk", "id": tunnel.peer_address},
            "children": {
                tunnel.sid: {
                    "local_ts": list(tunnel.local_cidrs),
                    "remote_ts": list(tunnel.remote_cidrs),
                    "esp_proposals": tunnel.esp_proposal.split(","),
                    "start_action": "start",
                    "dpd_action": "restart",
                    "close_action": "start",
                }
            },
        }

    def _owners(self, tunnel: TunnelSpec, domain: RoutingDomain) -> list[str]:
        return [domain.link.inside, tunnel.peer_address]

    async def forget(self, name: str, domain: RoutingDomain | None = None) -> None:
        """The domain `name` is going (or the platform stops): its charon stops, taking its SAs along."""
        state = self.domains.pop(name, None)
        if state is not None:
            for sid in state.loaded:
                self.seen.pop(sid, None)
            await state.charon.stop()

    async def _stop_domain(self, domain: RoutingDomain, state: _Domain) -> None:
        for destination in state.routes | state.peers:
            with contextlib.suppress(Exception):
                await domain.delete_route(destination)
        for address in state.addresses:
            await domain.set_local_address(address, False)
        with contextlib.suppress(OSError):
            await domain.forward_on_host(False)
        await self.forget(domain.name)
        log.info("routing domain %s has no VPN tunnel left: its charon stopped", domain.name)

    # --- state --------------------------------------------------------------------------------------------------

    async def _poll_forever(self) -> None:
        while True:
            await asyncio.sleep(POLL_EVERY)
            try:
                await self.poll()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("vpn: could not read the tunnels' state; retrying")

    async def poll(self) -> None:
        """Ask every charon for its SAs and failures; record what changed."""
        observed: dict[str, Observed] = {}
        for state in list(self.domains.values()):
            if not state.charon.running:
                continue
            try:
                sas = await state.charon.sas()
            except Exception as error:  # charon gone or hung: its tunnels are down
                sas = {}
                log.warning("vpn: charon in %s does not answer: %s", state.charon.namespace, error)
            errors = state.charon.errors()
            for sid in list(state.loaded) + list(state.refused):
                observed[sid] = self._observe(sid, sas.get(sid), errors.get(sid))
            for sid in state.loaded:
                await self._kick(state.charon, sid, sid in sas)
        if not observed:
            return
        async with self.ctx.sessions() as session, session.begin():
            for sid, seen in observed.items():
                event = await things_vpn.record(session, sid, seen)
                if event is not None:
                    log.info("vpn tunnel %s: %s (%s)", sid, event, seen.last_error or "")

    async def _kick(self, charon: Charon, sid: str, has_sa: bool) -> None:
        """charon retries by itself after a dead peer or a lost exchange, but gives up after a definitive refusal
        (NO_PROPOSAL_CHOSEN from a site whose configuration was not loaded yet, AUTHENTICATION_FAILED): a tunnel
        with no IKE SA at all for REINITIATE_AFTER is initiated again, and again, until it stays up or goes."""
        seen = self.seen.setdefault(sid, _Seen())
        now = time.monotonic()
        if has_sa:
            seen.idle_since = None
        elif seen.idle_since is None:
            seen.idle_since = now
        elif now - seen.idle_since >= max(REINITIATE_AFTER, self.timing.dpd):
            seen.idle_since = now
            log.info("vpn tunnel %s: no IKE SA; initiating again", sid)
            await charon.initiate(sid)

    def _observe(self, sid: str, sa: IkeSa | None, error: str | None) -> Observed:
        seen = self.seen.setdefault(sid, _Seen())
        if sa is not None and sa.established and sa.installed:
            if seen.up_since is None or seen.up_since[0] != sa.unique_id:
                seen.up_since = (sa.unique_id, (utcnow() - timedelta(seconds=sa.seconds_up)).replace(microsecond=0))
            seen.was_up, seen.error = True, None
            seen.children.update(sa.children)
            total_in, total_out = seen.bytes
            return Observed(UP, total_in, total_out, seen.up_since[1], None)
        seen.up_since = None
        if error is not None:
            seen.error = error
        if seen.error is None and seen.was_up:
            seen.error = "the tunnel went down; charon is re-establishing it"
        state = DOWN if seen.error is not None else CONNECTING
        return Observed(state, seen.bytes[0], seen.bytes[1], None, seen.error)
