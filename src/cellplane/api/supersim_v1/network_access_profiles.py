"""Network access profiles and their Networks sub-list — wire in, service call, JSON out."""

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
from cellplane.domain.networks import Network
from cellplane.services import network_access_profiles as service
from cellplane.store.models import NetworkAccessProfile

router = APIRouter(route_class=guarded("networks"))


def _url(request: Request, profile_sid: str) -> str:
    return f"{surface_base(request, 'supersim/v1')}/NetworkAccessProfiles/{profile_sid}"


def render(request: Request, profile: NetworkAccessProfile) -> dict[str, Any]:
    url = _url(request, profile.sid)
    return {
        "sid": profile.sid,
        "unique_name": profile.unique_name,
        "account_sid": profile.account_sid,
        "date_created": iso(profile.date_created),
        "date_updated": iso(profile.date_updated),
        "url": url,
        "links": {"networks": f"{url}/Networks"},
    }


def render_network(request: Request, profile_sid: str, network: Network) -> dict[str, Any]:
    return {
        "sid": network.sid,
        "network_access_profile_sid": profile_sid,
        "friendly_name": network.friendly_name,
        "iso_country": network.iso_country,
        "identifiers": network.identifiers,
        "url": f"{_url(request, profile_sid)}/Networks/{network.sid}",
    }


@router.post("/NetworkAccessProfiles")
async def create_profile(request: Request) -> Response:
    caller = await authenticate(request)
    params = await form_params(request)
    unique_name = params.string("UniqueName", max_length=64)
    networks = params.all("Networks")
    async with transaction(request) as session:
        profile = await service.create(session, caller, unique_name, networks)
        body = render(request, profile)
    return json_response(body, status=201)


@router.get("/NetworkAccessProfiles")
async def list_profiles(request: Request) -> Response:
    caller = await authenticate(request)
    params = query_params(request)
    spec = page_spec(params, validate_key=lambda key: is_sid(key, Prefix.NETWORK_ACCESS_PROFILE))
    async with reading(request) as session:
        page = await service.list_profiles(session, caller, spec)
    items = [render(request, p) for p in page.items]
    return json_response(list_body(request, params, "network_access_profiles", spec, page, items))


@router.get("/NetworkAccessProfiles/{sid}")
async def fetch_profile(request: Request, sid: str) -> Response:
    caller = await authenticate(request)
    async with reading(request) as session:
        profile = await service.fetch(session, caller, sid)
    return json_response(render(request, profile))


@router.post("/NetworkAccessProfiles/{sid}")
async def update_profile(request: Request, sid: str) -> Response:
    caller = await authenticate(request)
    params = await form_params(request)
    unique_name = params.string("UniqueName", max_length=64)
    async with transaction(request) as session:
        profile = await service.update(session, caller, sid, unique_name)
        body = render(request, profile)
    return json_response(body)


@router.get("/NetworkAccessProfiles/{profile}/Networks")
async def list_profile_networks(request: Request, profile: str) -> Response:
    caller = await authenticate(request)
    params = query_params(request)
    spec = page_spec(params, validate_key=lambda key: is_sid(key, Prefix.NETWORK))
    async with reading(request) as session:
        found, page = await service.list_networks(session, caller, profile, spec)
    items = [render_network(request, found.sid, n) for n in page.items]
    return json_response(list_body(request, params, "networks", spec, page, items))


@router.post("/NetworkAccessProfiles/{profile}/Networks")
async def add_profile_network(request: Request, profile: str) -> Response:
    caller = await authenticate(request)
    params = await form_params(request)
    network = params.string("Network", max_length=34)
    async with transaction(request) as session:
        found, added = await service.add_network(session, caller, profile, network)
        body = render_network(request, found.sid, added)
    return json_response(body, status=201)


@router.get("/NetworkAccessProfiles/{profile}/Networks/{sid}")
async def fetch_profile_network(request: Request, profile: str, sid: str) -> Response:
    caller = await authenticate(request)
    async with reading(request) as session:
        found, network = await service.fetch_network(session, caller, profile, sid)
    return json_response(render_network(request, found.sid, network))


@router.delete("/NetworkAccessProfiles/{profile}/Networks/{sid}")
async def remove_profile_network(request: Request, profile: str, sid: str) -> Response:
    caller = await authenticate(request)
    async with transaction(request) as session:
        await service.remove_network(session, caller, profile, sid)
    return Response(status_code=204)
