"""A Network's routes: list, add, fetch, delete."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from cellplane.api.things_v1.wire import body, caller, if_match, page_body, page_spec, resource, times
from cellplane.api.wire.db import reading, transaction
from cellplane.api.wire.guard import guarded
from cellplane.services import things_networks as service
from cellplane.store.models import ThingsRoute

router = APIRouter(route_class=guarded("networks"))
FIELDS = ("destination", "target")


def render(route: ThingsRoute) -> dict[str, Any]:
    return {
        "id": route.sid,
        "networkId": route.network_sid,
        "destination": route.destination,
        "target": route.target,
        **times(route.date_created, route.date_updated),
    }


@router.get("/networks/{network_sid}/routes")
async def list_routes(request: Request, network_sid: str) -> Response:
    who = await caller(request)
    spec = page_spec(request)
    async with reading(request) as session:
        page = await service.routes(session, who, network_sid, spec)
    return page_body(page, [render(route) for route in page.items])


@router.post("/networks/{network_sid}/routes")
async def create_route(request: Request, network_sid: str) -> Response:
    who = await caller(request)
    values = await body(request, FIELDS)
    async with transaction(request) as session:
        route = await service.create_route(
            session, who, network_sid, values.get("destination"), values.get("target", "uplink")
        )
        content = render(route)
    return resource(content, route.sid, route.date_updated, status=201)


@router.get("/networks/{network_sid}/routes/{sid}")
async def fetch_route(request: Request, network_sid: str, sid: str) -> Response:
    who = await caller(request)
    async with reading(request) as session:
        route = await service.route(session, who, network_sid, sid)
    return resource(render(route), route.sid, route.date_updated)


@router.delete("/networks/{network_sid}/routes/{sid}")
async def delete_route(request: Request, network_sid: str, sid: str) -> Response:
    who = await caller(request)
    async with transaction(request) as session:
        await service.delete_route(session, who, network_sid, sid, if_match(request))
    return Response(status_code=204)
