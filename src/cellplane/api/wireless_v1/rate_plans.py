"""RatePlans: create, list, fetch, update, delete — wire in, service call, JSON out."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from cellplane.api.wire.auth import authenticate
from cellplane.api.wire.db import reading, transaction
from cellplane.api.wire.forms import form_params, query_params
from cellplane.api.wire.guard import guarded
from cellplane.api.wire.paging import list_body, page_spec
from cellplane.api.wire.render import iso, json_response
from cellplane.api.wire.urls import surface_base
from cellplane.domain.ids import Prefix, is_sid
from cellplane.services import rate_plans as service
from cellplane.store.models import RatePlan

router = APIRouter(route_class=guarded("fleets"))


def render(request: Request, plan: RatePlan) -> dict[str, Any]:
    return {
        "sid": plan.sid,
        "unique_name": plan.unique_name,
        "account_sid": plan.account_sid,
        "friendly_name": plan.friendly_name,
        "data_enabled": plan.data_enabled,
        "data_metering": plan.data_metering,
        "data_limit": plan.data_limit,
        "messaging_enabled": plan.messaging_enabled,
        "voice_enabled": plan.voice_enabled,
        "national_roaming_enabled": plan.national_roaming_enabled,
        "national_roaming_data_limit": plan.national_roaming_data_limit,
        "international_roaming": list(plan.international_roaming),
        "international_roaming_data_limit": plan.international_roaming_data_limit,
        "date_created": iso(plan.date_created),
        "date_updated": iso(plan.date_updated),
        "url": f"{surface_base(request, 'wireless/v1')}/RatePlans/{plan.sid}",
    }


@router.post("/RatePlans")
async def create_rate_plan(request: Request) -> Response:
    caller = await authenticate(request)
    params = await form_params(request)
    roaming = params.all("InternationalRoaming")
    change = service.RatePlanChange(
        unique_name=params.string("UniqueName", max_length=64),
        friendly_name=params.string("FriendlyName", max_length=64),
        data_enabled=params.boolean("DataEnabled"),
        data_limit=params.integer("DataLimit"),
        data_metering=params.string("DataMetering", max_length=16),
        messaging_enabled=params.boolean("MessagingEnabled"),
        voice_enabled=params.boolean("VoiceEnabled"),
        national_roaming_enabled=params.boolean("NationalRoamingEnabled"),
        # A repeated parameter (InternationalRoaming=data&InternationalRoaming=messaging); an empty value is none.
        international_roaming=[value for value in roaming if value] if roaming else None,
        national_roaming_data_limit=params.integer("NationalRoamingDataLimit"),
        international_roaming_data_limit=params.integer("InternationalRoamingDataLimit"),
        data_limit_strategy=params.string("DataLimitStrategy", max_length=16),
    )
    async with transaction(request) as session:
        plan = await service.create(session, caller, change)
        body = render(request, plan)
    return json_response(body, status=201)


@router.get("/RatePlans")
async def list_rate_plans(request: Request) -> Response:
    caller = await authenticate(request)
    params = query_params(request)
    spec = page_spec(params, validate_key=lambda key: is_sid(key, Prefix.RATE_PLAN))
    async with reading(request) as session:
        page = await service.list_rate_plans(session, caller, spec)
    return json_response(list_body(request, params, "rate_plans", spec, page, [render(request, p) for p in page.items]))


@router.get("/RatePlans/{sid}")
async def fetch_rate_plan(request: Request, sid: str) -> Response:
    caller = await authenticate(request)
    async with reading(request) as session:
        plan = await service.fetch(session, caller, sid)
    return json_response(render(request, plan))


@router.post("/RatePlans/{sid}")
async def update_rate_plan(request: Request, sid: str) -> Response:
    caller = await authenticate(request)
    params = await form_params(request)
    change = service.RatePlanChange(
        unique_name=params.string("UniqueName", max_length=64),
        friendly_name=params.string("FriendlyName", max_length=64),
    )
    async with transaction(request) as session:
        plan = await service.update(session, caller, sid, change)
        body = render(request, plan)
    return json_response(body)


@router.delete("/RatePlans/{sid}")
async def delete_rate_plan(request: Request, sid: str) -> Response:
    caller = await authenticate(request)
    async with transaction(request) as session:
        await service.delete(session, caller, sid)
    return Response(status_code=204)
