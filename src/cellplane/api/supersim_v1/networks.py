"""Networks: the catalogue of visited networks a SIM may use — list with filters, fetch."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from cellplane.api.wire.auth import authenticate
from cellplane.api.wire.forms import query_params
from cellplane.api.wire.guard import guarded
from cellplane.api.wire.paging import list_body, page_spec
from cellplane.api.wire.render import json_response
from cellplane.api.wire.urls import surface_base
from cellplane.domain.errors import NotFound
from cellplane.domain.networks import Network, catalogue, is_page_key

router = APIRouter(route_class=guarded("networks"))


def render(request: Request, network: Network) -> dict[str, Any]:
    return {
        "sid": network.sid,
        "friendly_name": network.friendly_name,
        "url": f"{surface_base(request, 'supersim/v1')}/Networks/{network.sid}",
        "iso_country": network.iso_country,
        "identifiers": network.identifiers,
    }


@router.get("/Networks")
async def list_networks(request: Request) -> Response:
    await authenticate(request)
    params = query_params(request)
    spec = page_spec(params, validate_key=is_page_key)
    known = catalogue()
    selected = known.select(
        iso_country=params.string("IsoCountry", max_length=2),
        mcc=params.string("Mcc", max_length=3),
        mnc=params.string("Mnc", max_length=3),
    )
    page = known.page(spec, selected)
    return json_response(list_body(request, params, "networks", spec, page, [render(request, n) for n in page.items]))


@router.get("/Networks/{sid}")
async def fetch_network(request: Request, sid: str) -> Response:
    await authenticate(request)
    network = catalogue().lookup(sid)
    if network is None:
        raise NotFound("Network", sid)
    return json_response(render(request, network))
