"""Networks: list, create, fetch, change (name, deviceIsolation), delete; with their pools summarised."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from cellplane.api.things_v1.wire import body, boolean, caller, if_match, page_body, page_spec, resource, text, times
from cellplane.api.wire.db import reading, transaction
from cellplane.api.wire.guard import guarded
from cellplane.services import things_networks as service
from cellplane.store.models import IpPool, ThingsNetwork

router = APIRouter(route_class=guarded("networks"))
FIELDS = ("name", "deviceIsolation")


def render_pool(pool: IpPool, usage: service.PoolUsage) -> dict[str, Any]:
    return {
        "id": pool.sid,
        "networkId": pool.network_sid,
        "cidr": pool.cidr,
        "size": usage.size,
        "used": usage.used,
        "available": usage.available,
        **times(pool.date_created, pool.date_updated),
    }


async def render(session: Any, network: ThingsNetwork) -> dict[str, Any]:
    pools = await service.pools_of_network(session, network.sid)
    usage = await service.pool_usage(session, network.sid, pools)
    return {
        "id": network.sid,
        "name": network.name,
        "apn": network.apn,
        "deviceIsolation": network.device_isolation,
        "publicAddress": network.public_address,
        "ipPools": [
            {"id": p.sid, "cidr": p.cidr, "size": usage[p.sid].size, "available": usage[p.sid].available} for p in pools
        ],
        **times(network.date_created, network.date_updated),
    }


def _change(values: dict[str, Any]) -> service.NetworkChange:
    return service.NetworkChange(name=text(values, "name"), device_isolation=boolean(values, "deviceIsolation"))


@router.get("/networks")
async def list_networks(request: Request) -> Response:
    who = await caller(request)
    spec = page_spec(request)
    async with reading(request) as session:
        page = await service.list_networks(session, who, spec)
        items = [await render(session, network) for network in page.items]
    return page_body(page, items)


@router.post("/networks")
async def create_network(request: Request) -> Response:
    who = await caller(request)
    change = _change(await body(request, FIELDS))
    async with transaction(request) as session:
        network = await service.create_network(session, who, change)
        content = await render(session, network)
    return resource(content, network.sid, network.date_updated, status=201)


@router.get("/networks/{sid}")
async def fetch_network(request: Request, sid: str) -> Response:
    who = await caller(request)
    async with reading(request) as session:
        network = await service.network(session, who, sid)
        content = await render(session, network)
    return resource(content, network.sid, network.date_updated)


@router.patch("/networks/{sid}")
async def update_network(request: Request, sid: str) -> Response:
    who = await caller(request)
    change = _change(await body(request, FIELDS))
    async with transaction(request) as session:
        network = await service.update_network(session, who, sid, change, if_match(request))
        content = await render(session, network)
    return resource(content, network.sid, network.date_updated)


@router.delete("/networks/{sid}")
async def delete_network(request: Request, sid: str) -> Response:
    who = await caller(request)
    async with transaction(request) as session:
        await service.delete_network(session, who, sid, if_match(request))
    return Response(status_code=204)
