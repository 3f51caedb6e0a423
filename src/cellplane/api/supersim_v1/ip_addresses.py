"""Sims/{SimSid}/IpAddresses: the addresses a Super SIM holds in its live data sessions."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from cellplane.api.wire.auth import authenticate
from cellplane.api.wire.db import reading
from cellplane.api.wire.forms import query_params
from cellplane.api.wire.guard import guarded
from cellplane.api.wire.paging import list_body, page_spec
from cellplane.api.wire.render import json_response
from cellplane.services import ip_addresses as service
from cellplane.services import sims

router = APIRouter(route_class=guarded("sims"))


def render(address: service.SimIpAddress) -> dict[str, Any]:
    return {"ip_address": address.address, "ip_address_version": address.version}


@router.get("/Sims/{sim_sid}/IpAddresses")
async def list_ip_addresses(request: Request, sim_sid: str) -> Response:
    caller = await authenticate(request)
    params = query_params(request)
    spec = page_spec(params, service.is_address)
    async with reading(request) as session:
        sim = await sims.fetch(session, caller, sim_sid)
        page = await service.list_addresses(session, sim, spec)
    return json_response(list_body(request, params, "ip_addresses", spec, page, [render(a) for a in page.items]))
