"""ESimProfiles: order (create), list, fetch — wire in, service call, JSON out."""

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
from cellplane.services import esim_profiles as service
from cellplane.store.models import EsimProfile

router = APIRouter(route_class=guarded("sims"))


def render(request: Request, profile: EsimProfile) -> dict[str, Any]:
    return {
        "sid": profile.sid,
        "account_sid": profile.account_sid,
        "iccid": profile.iccid,
        "sim_sid": profile.sim_sid,
        "status": profile.status,
        "eid": profile.eid,
        "smdp_plus_address": profile.smdp_plus_address,
        "matching_id": profile.matching_id,
        "activation_code": profile.activation_code,
        "error_code": profile.error_code,
        "error_message": profile.error_message,
        "date_created": iso(profile.date_created),
        "date_updated": iso(profile.date_updated),
        "url": f"{surface_base(request, 'supersim/v1')}/ESimProfiles/{profile.sid}",
    }


@router.post("/ESimProfiles")
async def create_esim_profile(request: Request) -> Response:
    caller = await authenticate(request)
    params = await form_params(request)
    order = service.EsimProfileOrder(
        eid=params.string("Eid", max_length=64),
        generate_matching_id=params.boolean("GenerateMatchingId"),
        callback_url=params.url("CallbackUrl"),
        callback_method=params.method("CallbackMethod"),
    )
    async with transaction(request) as session:
        profile = await service.create(session, caller, order)
        body = render(request, profile)
    return json_response(body, status=201)


@router.get("/ESimProfiles")
async def list_esim_profiles(request: Request) -> Response:
    caller = await authenticate(request)
    params = query_params(request)
    spec = page_spec(params, lambda key: is_sid(key, Prefix.ESIM_PROFILE))
    status = params.choice("Status", service.STATUSES)
    async with reading(request) as session:
        page = await service.list_profiles(
            session,
            caller,
            spec,
            eid=params.string("Eid", max_length=64),
            sim_sid=params.string("SimSid", max_length=34),
            status=status,
        )
    items = [render(request, p) for p in page.items]
    return json_response(list_body(request, params, "esim_profiles", spec, page, items))


@router.get("/ESimProfiles/{sid}")
async def fetch_esim_profile(request: Request, sid: str) -> Response:
    caller = await authenticate(request)
    async with reading(request) as session:
        profile = await service.fetch(session, caller, sid)
    return json_response(render(request, profile))
