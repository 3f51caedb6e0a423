"""Things Groups: list, create, fetch, change, delete."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from cellplane.api.things_v1.wire import body, caller, if_match, page_body, page_spec, resource, text, times
from cellplane.api.wire.db import reading, transaction
from cellplane.api.wire.guard import guarded
from cellplane.services import things_profiles as service
from cellplane.store.models import ThingsGroup
from cellplane.store.repositories import things as repo

router = APIRouter(route_class=guarded("things"))
FIELDS = ("name", "networkId", "ipProfileId")


def render(group: ThingsGroup, count: int) -> dict[str, Any]:
    return {
        "id": group.sid,
        "name": group.name,
        "networkId": group.network_sid,
        "ipProfileId": group.ip_profile_sid,
        "default": group.default_for is not None,
        "thingCount": count,
        **times(group.date_created, group.date_updated),
    }


def _change(values: dict[str, Any]) -> service.GroupChange:
    return service.GroupChange(
        name=text(values, "name"), network_id=text(values, "networkId"), ip_profile_id=text(values, "ipProfileId")
    )


@router.get("/thingsGroups")
async def list_groups(request: Request) -> Response:
    who = await caller(request)
    spec = page_spec(request)
    async with reading(request) as session:
        page = await service.list_groups(session, who, spec)
        counts = await repo.thing_counts(session, [group.sid for group in page.items])
    return page_body(page, [render(group, counts.get(group.sid, 0)) for group in page.items])


@router.post("/thingsGroups")
async def create_group(request: Request) -> Response:
    who = await caller(request)
    change = _change(await body(request, FIELDS))
    async with transaction(request) as session:
        group = await service.create_group(session, who, change)
        content = render(group, 0)
    return resource(content, group.sid, group.date_updated, status=201)


@router.get("/thingsGroups/{sid}")
async def fetch_group(request: Request, sid: str) -> Response:
    who = await caller(request)
    async with reading(request) as session:
        group = await service.group(session, who, sid)
        counts = await repo.thing_counts(session, [group.sid])
    return resource(render(group, counts.get(group.sid, 0)), group.sid, group.date_updated)


@router.patch("/thingsGroups/{sid}")
async def update_group(request: Request, sid: str) -> Response:
    who = await caller(request)
    change = _change(await body(request, FIELDS))
    async with transaction(request) as session:
        group = await service.update_group(session, who, sid, change, if_match(request))
        counts = await repo.thing_counts(session, [group.sid])
        content = render(group, counts.get(group.sid, 0))
    return resource(content, group.sid, group.date_updated)


@router.delete("/thingsGroups/{sid}")
async def delete_group(request: Request, sid: str) -> Response:
    who = await caller(request)
    async with transaction(request) as session:
        await service.delete_group(session, who, sid, if_match(request))
    return Response(status_code=204)
