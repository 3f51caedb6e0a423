"""A Network's IP pools: list, add, fetch, resize (PATCH cidr), delete."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from cellplane.api.things_v1.networks import render_pool
from cellplane.api.things_v1.wire import body, caller, if_match, resource
from cellplane.api.wire.db import reading, transaction
from cellplane.api.wire.guard import guarded
from cellplane.api.wire.render import json_response
from cellplane.domain.errors import InvalidParameter
from cellplane.services import things_networks as service

router = APIRouter(route_class=guarded("networks"))
FIELDS = ("cidr",)


@router.get("/networks/{network_sid}/ipPools")
async def list_pools(request: Request, network_sid: str) -> Response:
    who = await caller(request)
    async with reading(request) as session:
        pools = await service.pools(session, who, network_sid)
        usage = await service.pool_usage(session, network_sid, pools)
    # A network has a handful of pools: one page always holds them all.
    return json_response({"items": [render_pool(p, usage[p.sid]) for p in pools], "nextPageToken": None})


@router.post("/networks/{network_sid}/ipPools")
async def create_pool(request: Request, network_sid: str) -> Response:
    who = await caller(request)
    values = await body(request, FIELDS)
    if "cidr" not in values:
        raise InvalidParameter("cidr", "cidr is required")
    async with transaction(request) as session:
        pool = await service.create_pool(session, who, network_sid, values["cidr"])
        usage = await service.pool_usage(session, network_sid, [pool])
        content = render_pool(pool, usage[pool.sid])
    return resource(content, pool.sid, pool.date_updated, status=201)


@router.get("/networks/{network_sid}/ipPools/{sid}")
async def fetch_pool(request: Request, network_sid: str, sid: str) -> Response:
    who = await caller(request)
    async with reading(request) as session:
        pool = await service.pool(session, who, network_sid, sid)
        usage = await service.pool_usage(session, network_sid, [pool])
    return resource(render_pool(pool, usage[pool.sid]), pool.sid, pool.date_updated)


@router.patch("/networks/{network_sid}/ipPools/{sid}")
async def resize_pool(request: Request, network_sid: str, sid: str) -> Response:
    who = await caller(request)
    values = await body(request, FIELDS)
    async with transaction(request) as session:
        if "cidr" in values:
            pool = await service.resize_pool(session, who, network_sid, sid, values["cidr"], if_match(request))
        else:
            pool = await service.pool(session, who, network_sid, sid)
        usage = await service.pool_usage(session, network_sid, [pool])
        content = render_pool(pool, usage[pool.sid])
    return resource(content, pool.sid, pool.date_updated)


@router.delete("/networks/{network_sid}/ipPools/{sid}")
async def delete_pool(request: Request, network_sid: str, sid: str) -> Response:
    who = await caller(request)
    async with transaction(request) as session:
        await service.delete_pool(session, who, network_sid, sid, if_match(request))
    return Response(status_code=204)
