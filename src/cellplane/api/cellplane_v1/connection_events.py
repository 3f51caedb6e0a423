"""ConnectionEvents: attaches and data-session events of the account's SIMs, newest first — list and fetch."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from cellplane.api.wire.auth import authenticate
from cellplane.api.wire.db import reading
from cellplane.api.wire.forms import query_params
from cellplane.api.wire.guard import guarded
from cellplane.api.wire.paging import list_body, page_spec
from cellplane.api.wire.render import iso, json_response
from cellplane.api.wire.urls import surface_base
from cellplane.domain.ids import is_sid
from cellplane.services import connection_events as service
from cellplane.store.models import ConnectionEvent

router = APIRouter(route_class=guarded("sims"))


def render(request: Request, event: ConnectionEvent) -> dict[str, Any]:
    return {
        "sid": event.sid,
        "account_sid": event.account_sid,
        "sim_sid": event.sim_sid,
        "iccid": event.iccid,
        "imsi": event.imsi,
        "fleet_sid": event.fleet_sid,
        "event_type": event.event_type,
        "network_sid": event.network_sid,
        "mcc": event.mcc,
        "mnc": event.mnc,
        "radio_link": event.radio_link,
        "imei": event.imei,
        "ip_address": event.ip_address,
        "data_session_sid": event.data_session_sid,
        "reason": event.reason,
        "error_code": event.error_code,
        "bytes_up": event.bytes_up,
        "bytes_down": event.bytes_down,
        "timestamp": iso(event.timestamp),
        "url": f"{surface_base(request, 'cellplane/v1')}/ConnectionEvents/{event.sid}",
    }


@router.get("/ConnectionEvents")
async def list_connection_events(request: Request) -> Response:
    caller = await authenticate(request)
    params = query_params(request)
    spec = page_spec(params, validate_key=is_sid)
    wanted = service.EventRequest(
        sim=params.string("Sim", max_length=64, allow_empty=False),
        fleet=params.string("Fleet", max_length=64, allow_empty=False),
        event_type=params.string("EventType", max_length=24, allow_empty=False),
        start_time=params.timestamp("StartTime"),
        end_time=params.timestamp("EndTime"),
    )
    async with reading(request) as session:
        page = await service.list_events(session, caller, wanted, spec)
    body = list_body(request, params, "connection_events", spec, page, [render(request, e) for e in page.items])
    return json_response(body)


@router.get("/ConnectionEvents/{sid}")
async def fetch_connection_event(request: Request, sid: str) -> Response:
    caller = await authenticate(request)
    async with reading(request) as session:
        event = await service.fetch(session, caller, sid)
    return json_response(render(request, event))
