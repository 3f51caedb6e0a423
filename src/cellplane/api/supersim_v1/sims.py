"""Sims: claim (create), list, fetch, update — wire in, service call, JSON out."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy.engine import Row
from starlette.responses import Response

from cellplane.api.wire.auth import authenticate
from cellplane.api.wire.db import addressable, connection, context, reading, transaction
from cellplane.api.wire.forms import form_params, query_params
from cellplane.api.wire.guard import guarded
from cellplane.api.wire.paging import list_body, page_spec
from cellplane.api.wire.render import iso, json_response
from cellplane.api.wire.urls import surface_base
from cellplane.domain import lifecycle
from cellplane.services import sims as service
from cellplane.store.models import Sim

router = APIRouter(route_class=guarded("sims"))


def render(request: Request, sim: Sim | Row[Any]) -> dict[str, Any]:
    """The Sim resource; `sim` is a model or a row of the sims table (same attribute names)."""
    url = f"{surface_base(request, 'supersim/v1')}/Sims/{sim.sid}"
    return {
        "sid": sim.sid,
        "unique_name": sim.unique_name,
        "account_sid": sim.account_sid,
        "iccid": sim.iccid,
        "status": sim.status,
        "fleet_sid": sim.fleet_sid,
        "date_created": iso(sim.claimed_at or sim.date_created),
        "date_updated": iso(sim.date_updated),
        "url": url,
        "links": {"billing_periods": f"{url}/BillingPeriods", "sim_ip_addresses": f"{url}/IpAddresses"},
    }


@router.post("/Sims")
async def create_sim(request: Request) -> Response:
    caller = await authenticate(request)
    params = await form_params(request)
    async with transaction(request) as session:
        sim = await service.claim(
            session,
            caller,
            params.string("Iccid", max_length=22),
            params.string("RegistrationCode", max_length=32),
        )
        body = render(request, sim)
    return json_response(body, status=201)


@router.get("/Sims")
async def list_sims(request: Request) -> Response:
    caller = await authenticate(request)
    params = query_params(request)
    spec = page_spec(params)
    status = params.choice("Status", lifecycle.SUPERSIM_STATUSES)
    async with reading(request) as session:
        page = await service.list_sims(
            session,
            caller,
            spec,
            status=status,
            fleet=params.string("Fleet", max_length=64),
            iccid=params.string("Iccid", max_length=22),
        )
    return json_response(list_body(request, params, "sims", spec, page, [render(request, s) for s in page.items]))


@router.get("/Sims/{sid}")
async def fetch_sim(request: Request) -> Response:
    """The hottest read: also served ahead of FastAPI's routing (`HOT_ROUTES`, api/wire/hot.py)."""
    caller = await authenticate(request)
    sid = addressable(request)["sid"]
    sim = await service.fetch_direct(context(request), caller, sid)
    if sim is None:
        async with connection(request) as conn:
            sim = await service.fetch_row(conn, caller, sid)
    return json_response(render(request, sim))


# (method, path under the surface, endpoint): endpoints that take only the request, served ahead of FastAPI's
# dependency layer and nested routers (api/wire/hot.py, bench/RESULTS.md).
HOT_ROUTES = [("GET", "/Sims/{sid}", fetch_sim)]


@router.post("/Sims/{sid}")
async def update_sim(request: Request, sid: str) -> Response:
    caller = await authenticate(request)
    params = await form_params(request)
    change = service.SimUpdate(
        unique_name=params.string("UniqueName", max_length=64),
        status=params.choice("Status", lifecycle.SUPERSIM_TARGETS),
        fleet=params.string("Fleet", max_length=64),
        callback_url=params.url("CallbackUrl"),
        callback_method=params.method("CallbackMethod"),
        account_sid=params.string("AccountSid", max_length=34),
    )
    async with transaction(request) as session:
        sim, is_async = await service.update(session, context(request), caller, sid, change)
        body = render(request, sim)
    return json_response(body, status=202 if is_async else 200)
