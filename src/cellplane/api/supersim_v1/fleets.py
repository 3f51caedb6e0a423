"""Fleets: create, list, fetch, update — wire in, service call, JSON out."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from cellplane.api.wire.auth import authenticate
from cellplane.api.wire.db import reading, transaction
from cellplane.api.wire.forms import Params, form_params, query_params
from cellplane.api.wire.guard import guarded
from cellplane.api.wire.paging import list_body, page_spec
from cellplane.api.wire.render import iso, json_response
from cellplane.api.wire.urls import surface_base
from cellplane.domain.ids import Prefix, is_sid
from cellplane.services import fleets as service
from cellplane.store.models import Fleet

router = APIRouter(route_class=guarded("fleets"))


def render(request: Request, fleet: Fleet) -> dict[str, Any]:
    return {
        "account_sid": fleet.account_sid,
        "sid": fleet.sid,
        "unique_name": fleet.unique_name,
        "date_created": iso(fleet.date_created),
        "date_updated": iso(fleet.date_updated),
        "url": f"{surface_base(request, 'supersim/v1')}/Fleets/{fleet.sid}",
        "data_enabled": fleet.data_enabled,
        "data_limit": fleet.data_limit,
        "data_metering": fleet.data_metering,
        "sms_commands_enabled": fleet.sms_commands_enabled,
        "sms_commands_url": fleet.sms_commands_url,
        "sms_commands_method": fleet.sms_commands_method,
        "network_access_profile_sid": fleet.network_access_profile_sid,
        "ip_commands_url": fleet.ip_commands_url,
        "ip_commands_method": fleet.ip_commands_method,
    }


def _change(params: Params) -> service.FleetChange:
    return service.FleetChange(
        unique_name=params.string("UniqueName", max_length=64),
        network_access_profile=params.string("NetworkAccessProfile", max_length=64),
        data_enabled=params.boolean("DataEnabled"),
        data_limit=params.integer("DataLimit", minimum=service.DATA_LIMIT_MIN, maximum=service.DATA_LIMIT_MAX),
        ip_commands_url=params.url("IpCommandsUrl"),
        ip_commands_method=params.method("IpCommandsMethod"),
        sms_commands_enabled=params.boolean("SmsCommandsEnabled"),
        sms_commands_url=params.url("SmsCommandsUrl"),
        sms_commands_method=params.method("SmsCommandsMethod"),
    )


@router.post("/Fleets")
async def create_fleet(request: Request) -> Response:
    caller = await authenticate(request)
    params = await form_params(request)
    params.required("NetworkAccessProfile", max_length=64)
    change = _change(params)
    async with transaction(request) as session:
        fleet = await service.create(session, caller, change)
        body = render(request, fleet)
    return json_response(body, status=201)


@router.get("/Fleets")
async def list_fleets(request: Request) -> Response:
    caller = await authenticate(request)
    params = query_params(request)
    spec = page_spec(params, validate_key=lambda key: is_sid(key, Prefix.FLEET))
    async with reading(request) as session:
        page = await service.list_fleets(
            session, caller, spec, network_access_profile=params.string("NetworkAccessProfile", max_length=64)
        )
    return json_response(list_body(request, params, "fleets", spec, page, [render(request, f) for f in page.items]))


@router.get("/Fleets/{sid}")
async def fetch_fleet(request: Request, sid: str) -> Response:
    caller = await authenticate(request)
    async with reading(request) as session:
        fleet = await service.fetch(session, caller, sid)
    return json_response(render(request, fleet))


@router.post("/Fleets/{sid}")
async def update_fleet(request: Request, sid: str) -> Response:
    caller = await authenticate(request)
    params = await form_params(request)
    change = _change(params)
    async with transaction(request) as session:
        fleet = await service.update(session, caller, sid, change)
        body = render(request, fleet)
    return json_response(body)
