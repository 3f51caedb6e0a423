"""A Network's VPN tunnels: list, create (202: charon brings it up in the background), fetch, delete.

`preSharedKey` is write-only; `localAddress` (read-only) is the Network's side of the tunnel, the address the
customer's gateway talks IKE with (the Network's `publicAddress`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from cellplane.api.things_v1.wire import body, caller, if_match, iso, page_body, page_spec, resource, times
from cellplane.api.wire.db import context, reading, transaction
from cellplane.api.wire.guard import guarded
from cellplane.services import things_networks as networks
from cellplane.services import things_vpn as service
from cellplane.store.models import VpnTunnel

router = APIRouter(route_class=guarded("networks"))
_WIRE = {
    "peerAddress": "peer_address",
    "preSharedKey": "pre_shared_key",
    "ikeProposal": "ike_proposal",
    "espProposal": "esp_proposal",
    "localCidrs": "local_cidrs",
    "remoteCidrs": "remote_cidrs",
}


def render(tunnel: VpnTunnel, local_address: str) -> dict[str, Any]:
    return {
        "id": tunnel.sid,
        "networkId": tunnel.network_sid,
        "peerAddress": tunnel.peer_address,
        "localAddress": local_address,
        "ikeProposal": tunnel.ike_proposal,
        "espProposal": tunnel.esp_proposal,
        "localCidrs": list(tunnel.local_cidrs),
        "remoteCidrs": list(tunnel.remote_cidrs),
        "state": tunnel.state,
        "bytesIn": tunnel.bytes_in,
        "bytesOut": tunnel.bytes_out,
        "establishedAt": iso(tunnel.established_at),
        "lastError": tunnel.last_error,
        **times(tunnel.date_created, tunnel.date_updated),
    }


@router.get("/networks/{network_sid}/vpnTunnels")
async def list_tunnels(request: Request, network_sid: str) -> Response:
    who = await caller(request)
    spec = page_spec(request)
    async with reading(request) as session:
        network = await networks.network(session, who, network_sid)
        page = await service.tunnels(session, who, network_sid, spec)
    return page_body(page, [render(t, network.public_address) for t in page.items])


@router.post("/networks/{network_sid}/vpnTunnels")
async def create_tunnel(request: Request, network_sid: str) -> Response:
    who = await caller(request)
    values = await body(request, _WIRE)
    change = service.TunnelRequest(**{attribute: values.get(wire) for wire, attribute in _WIRE.items()})
    async with transaction(request) as session:
        network = await networks.network(session, who, network_sid)
        unavailable = context(request).vpn_unavailable()
        tunnel = await service.create_tunnel(session, who, network_sid, change, unavailable)
        content = render(tunnel, network.public_address)
    return resource(content, tunnel.sid, tunnel.date_updated, status=202)


@router.get("/networks/{network_sid}/vpnTunnels/{sid}")
async def fetch_tunnel(request: Request, network_sid: str, sid: str) -> Response:
    who = await caller(request)
    async with reading(request) as session:
        network = await networks.network(session, who, network_sid)
        tunnel = await service.tunnel(session, who, network_sid, sid)
    return resource(render(tunnel, network.public_address), tunnel.sid, tunnel.date_updated)


@router.delete("/networks/{network_sid}/vpnTunnels/{sid}")
async def delete_tunnel(request: Request, network_sid: str, sid: str) -> Response:
    who = await caller(request)
    async with transaction(request) as session:
        await service.delete_tunnel(session, who, network_sid, sid, if_match(request))
    return Response(status_code=204)
