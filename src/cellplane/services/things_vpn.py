"""A Network's IPsec VPN tunnels (THINGS.md `vpnTunnels`, issue 20): what the customer asks for, checked whole before
anything is stored (so charon is never handed half a tunnel), and what charon reports, written back by the data plane
(network/things_vpn.py) with a connection event and a signed webhook to the account's events URL on each up/down.

A tunnel answers 202 on create: it is `connecting` until charon has an IKE SA and its CHILD_SA installed (`up`), or
`down` with `lastError` when an attempt failed or the peer stopped answering (charon keeps trying; it comes back `up`
by itself).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from cellplane.domain import ipsec
from cellplane.domain import things_config as config
from cellplane.domain.caller import Caller
from cellplane.domain.errors import InvalidParameter
from cellplane.domain.ids import Prefix, new_sid
from cellplane.domain.paging import Page, PageSpec
from cellplane.domain.policy import EventType
from cellplane.domain.things import check_if_match
from cellplane.services import things_events
from cellplane.services.things_networks import network, network_child, network_children, pools_of_network
from cellplane.store.models import ConnectionEvent, ThingsRoute, VpnTunnel
from cellplane.store.models.base import utcnow

CONNECTING, UP, DOWN = "connecting", "up", "down"
DEFAULT_IKE = "aes256-sha256-modp2048"
DEFAULT_ESP = "aes256gcm16"
PSK_LENGTHS = range(8, 257)
MAX_CIDRS = 16
EVENT_UP, EVENT_DOWN = EventType.VPN_TUNNEL_UP.value, EventType.VPN_TUNNEL_DOWN.value


@dataclass
class TunnelRequest:
    peer_address: Any = None
    pre_shared_key: Any = None
    ike_proposal: Any = None
    esp_proposal: Any = None
    local_cidrs: Any = None
    remote_cidrs: Any = None


async def tunnels(session: AsyncSession, caller: Caller, network_sid: str, spec: PageSpec) -> Page[VpnTunnel]:
    return await network_children(session, caller, network_sid, VpnTunnel, spec)


async def tunnel(session: AsyncSession, caller: Caller, network_sid: str, sid: str) -> VpnTunnel:
    return await network_child(session, caller, network_sid, VpnTunnel, sid, "VpnTunnel")


async def create_tunnel(
    session: AsyncSession, caller: Caller, network_sid: str, request: TunnelRequest, unavailable: str | None = None
) -> VpnTunnel:
    """Check every field against the Network and its other tunnels, then store the tunnel `connecting`; the data
    plane configures charon from the stored row. Where tunnels cannot run (`unavailable` says why) it is stored
    `down` with that reason, not left `connecting` for ever."""
    found = await network(session, caller, network_sid)
    pools = [ipaddress.IPv4Network(p.cidr) for p in await pools_of_network(session, found.sid)]
    others = (await session.execute(select(VpnTunnel).where(VpnTunnel.network_sid == found.sid))).scalars().all()
    peer = config.parse_address(request.peer_address, "peerAddress")
    if peer.is_loopback or peer.is_multicast or peer.is_unspecified or peer.is_link_local or peer == _BROADCAST:
        raise InvalidParameter("peerAddress", f"peerAddress {peer} is not a unicast address a site can have")
    for pool in pools:
        if peer in pool:
            raise InvalidParameter("peerAddress", f"peerAddress {peer} is inside the network's own pool {pool}")
    if any(t.peer_address == str(peer) for t in others):
        raise InvalidParameter("peerAddress", f"the network has a tunnel to {peer} already")
    psk = request.pre_shared_key
    if not isinstance(psk, str) or len(psk) not in PSK_LENGTHS or not psk.isprintable():
        raise InvalidParameter("preSharedKey", "preSharedKey must be 8 to 256 printable characters")
    ike = _proposal(request.ike_proposal, "ike", "ikeProposal", DEFAULT_IKE)
    esp = _proposal(request.esp_proposal, "esp", "espProposal", DEFAULT_ESP)
    local = _cidrs(request.local_cidrs, "localCidrs") if request.local_cidrs is not None else pools
    if not local:
        raise InvalidParameter("localCidrs", "the network has no pool: give localCidrs")
    for cidr in local:
        # Whole pools: the tunnel's end in the domain takes the pool's network address, which no Thing is given.
        if cidr not in pools:
            raise InvalidParameter("localCidrs", f"localCidrs {cidr} is not one of the network's pools")
    remote = _cidrs(request.remote_cidrs, "remoteCidrs")
    if not remote:
        raise InvalidParameter("remoteCidrs", "remoteCidrs must name at least one network at the site")
    for cidr in remote:
        clash = next((p for p in pools if cidr.overlaps(p)), None)
        if clash is not None:
            raise InvalidParameter("remoteCidrs", f"remoteCidrs {cidr} overlaps the network's own pool {clash}")
        for other in others:
            taken = config.overlapping(cidr, other.remote_cidrs)
            if taken is not None:
                raise InvalidParameter("remoteCidrs", f"remoteCidrs {cidr} overlaps {taken} of tunnel {other.sid}")
        if peer in cidr:
            raise InvalidParameter("peerAddress", f"peerAddress {peer} is inside remoteCidrs {cidr}")
    created = VpnTunnel(
        sid=new_sid(Prefix.VPN_TUNNEL),
        account_sid=caller.account_sid,
        network_sid=found.sid,
        peer_address=str(peer),
        pre_shared_key=psk,
        ike_proposal=ike,
        esp_proposal=esp,
        local_cidrs=[str(c) for c in local],
        remote_cidrs=[str(c) for c in remote],
        state=CONNECTING if unavailable is None else DOWN,
        last_error=None if unavailable is None else f"VPN tunnels are off on this platform: {unavailable}"[:256],
        bytes_in=0,
        bytes_out=0,
    )
    session.add(created)
    await session.flush()
    return created


_BROADCAST = ipaddress.IPv4Address("255.255.255.255")


def _proposal(value: Any, kind: str, field: str, default: str) -> str:
    if value is None:
        return default
    try:
        return ipsec.check(value, kind)
    except ipsec.ProposalError as error:
        raise InvalidParameter(field, f"{field} {error}") from None


def _cidrs(value: Any, field: str) -> list[ipaddress.IPv4Network]:
    if not isinstance(value, list) or len(value) > MAX_CIDRS:
        raise InvalidParameter(field, f"{field} must be a list of at most {MAX_CIDRS} IPv4 CIDRs")
    parsed = [config.parse_cidr(item, field, prefixes=range(8, 33)) for item in value]
    for index, cidr in enumerate(parsed):
        clash = config.overlapping(cidr, [str(c) for c in parsed[index + 1 :]])
        if clash is not None:
            raise InvalidParameter(field, f"{field} {cidr} overlaps {clash}")
    return parsed


async def delete_tunnel(
    session: AsyncSession, caller: Caller, network_sid: str, sid: str, if_match: str | None
) -> None:
    """The tunnel and the routes through it go at once; the data plane takes its SAs (and, when it was the domain's
    last, the domain's charon) down within a second."""
    found = await tunnel(session, caller, network_sid, sid)
    check_if_match(if_match, found.sid, found.date_updated, "VpnTunnel")
    await session.execute(delete(ThingsRoute).where(ThingsRoute.network_sid == network_sid, ThingsRoute.target == sid))
    await session.delete(found)
    await session.flush()


# --- the data plane's side ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TunnelSpec:
    """What charon needs of one tunnel (`key` changes when charon's configuration of it must)."""

    sid: str
    network_sid: str
    peer_address: str
    pre_shared_key: str
    ike_proposal: str
    esp_proposal: str
    local_cidrs: tuple[str, ...]
    remote_cidrs: tuple[str, ...]
    bytes_in: int = 0  # what the store holds (not part of charon's configuration)
    bytes_out: int = 0

    @property
    def key(self) -> tuple[Any, ...]:
        return (
            self.peer_address,
            self.pre_shared_key,
            self.ike_proposal,
            self.esp_proposal,
            self.local_cidrs,
            self.remote_cidrs,
        )


async def specs(session: AsyncSession) -> dict[str, list[TunnelSpec]]:
    """Every tunnel, by Network."""
    found: dict[str, list[TunnelSpec]] = {}
    for t in (await session.execute(select(VpnTunnel).order_by(VpnTunnel.sid))).scalars():
        found.setdefault(t.network_sid, []).append(
            TunnelSpec(
                t.sid,
                t.network_sid,
                t.peer_address,
                t.pre_shared_key,
                t.ike_proposal,
                t.esp_proposal,
                tuple(t.local_cidrs),
                tuple(t.remote_cidrs),
                t.bytes_in,
                t.bytes_out,
            )
        )
    return found


@dataclass(frozen=True)
class Observed:
    """What charon says of one tunnel now."""

    state: str
    bytes_in: int = 0
    bytes_out: int = 0
    established_at: datetime | None = None
    last_error: str | None = None


async def record(session: AsyncSession, sid: str, seen: Observed) -> str | None:
    """Write what charon says of tunnel `sid`; on a change between `up` and not up, a connection event and the
    account's webhook. Returns the event type recorded, if any."""
    found = await session.get(VpnTunnel, sid)
    if found is None:
        return None
    before = found.state
    state = seen.state
    if state == CONNECTING and before == DOWN:
        state = DOWN  # charon is trying again after a failure: still down, with the failure said
    error = seen.last_error if seen.last_error is not None else (found.last_error if state != UP else None)
    values = (state, seen.bytes_in, seen.bytes_out, seen.established_at, error)
    current = (found.state, found.bytes_in, found.bytes_out, found.established_at, found.last_error)
    if values == current:
        return None
    found.state, found.bytes_in, found.bytes_out, found.established_at, found.last_error = values
    found.date_updated = utcnow()
    event = None
    if state == UP and before != UP:
        event = EVENT_UP
    elif state == DOWN and before != DOWN:
        event = EVENT_DOWN
    if event is not None:
        await _announce(session, found, event)
    await session.flush()
    return event


async def _announce(session: AsyncSession, tunnel: VpnTunnel, event: str) -> None:
    session.add(
        ConnectionEvent(
            sid=new_sid(Prefix.CONNECTION_EVENT),
            account_sid=tunnel.account_sid,
            event_type=event,
            network_sid=tunnel.network_sid,
            ip_address=tunnel.peer_address,
            reason=tunnel.last_error if event == EVENT_DOWN else None,
            bytes_up=tunnel.bytes_out,
            bytes_down=tunnel.bytes_in,
            timestamp=utcnow(),
        )
    )
    await things_events.announce(
        session,
        tunnel.account_sid,
        "vpnTunnelUp" if event == EVENT_UP else "vpnTunnelDown",
        {
            "vpnTunnelId": tunnel.sid,
            "networkId": tunnel.network_sid,
            "peerAddress": tunnel.peer_address,
            "state": tunnel.state,
            "lastError": tunnel.last_error,
        },
        tunnel.sid,
    )
