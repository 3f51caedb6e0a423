"""IP Profiles: list, create, fetch, change (rules replaced whole), delete."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from cellplane.api.things_v1.wire import body, caller, if_match, page_body, page_spec, resource, text, times
from cellplane.api.wire.db import reading, transaction
from cellplane.api.wire.guard import guarded
from cellplane.services import things_profiles as service
from cellplane.store.models import IpProfile

router = APIRouter(route_class=guarded("networks"))
FIELDS = ("name", "inbound", "outbound", "defaultAction")


def render(profile: IpProfile) -> dict[str, Any]:
    return {
        "id": profile.sid,
        "name": profile.name,
        "inbound": profile.inbound,
        "outbound": profile.outbound,
        "defaultAction": profile.default_action,
        **times(profile.date_created, profile.date_updated),
    }


def _change(values: dict[str, Any]) -> service.ProfileChange:
    return service.ProfileChange(
        name=text(values, "name"),
        inbound=values.get("inbound"),
        outbound=values.get("outbound"),
        default_action=values.get("defaultAction"),
    )


@router.get("/ipProfiles")
async def list_profiles(request: Request) -> Response:
    who = await caller(request)
    spec = page_spec(request)
    async with reading(request) as session:
        page = await service.list_profiles(session, who, spec)
    return page_body(page, [render(profile) for profile in page.items])


@router.post("/ipProfiles")
async def create_profile(request: Request) -> Response:
    who = await caller(request)
    change = _change(await body(request, FIELDS))
    async with transaction(request) as session:
        profile = await service.create_profile(session, who, change)
        content = render(profile)
    return resource(content, profile.sid, profile.date_updated, status=201)


@router.get("/ipProfiles/{sid}")
async def fetch_profile(request: Request, sid: str) -> Response:
    who = await caller(request)
    async with reading(request) as session:
        profile = await service.profile(session, who, sid)
    return resource(render(profile), profile.sid, profile.date_updated)


@router.patch("/ipProfiles/{sid}")
async def update_profile(request: Request, sid: str) -> Response:
    who = await caller(request)
    change = _change(await body(request, FIELDS))
    async with transaction(request) as session:
        profile = await service.update_profile(session, who, sid, change, if_match(request))
        content = render(profile)
    return resource(content, profile.sid, profile.date_updated)


@router.delete("/ipProfiles/{sid}")
async def delete_profile(request: Request, sid: str) -> Response:
    who = await caller(request)
    async with transaction(request) as session:
        await service.delete_profile(session, who, sid, if_match(request))
    return Response(status_code=204)
