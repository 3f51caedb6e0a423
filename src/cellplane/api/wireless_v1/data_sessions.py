"""Sims/{SimSid}/DataSessions: the SIM's data sessions as the AAA recorded them (GET only)."""

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
from cellplane.domain import wireless
from cellplane.domain.ids import Prefix, is_sid
from cellplane.services import wireless_sims as service
from cellplane.store.models import DataSession

router = APIRouter(route_class=guarded("usage"))


def render(data_session: DataSession) -> dict[str, Any]:
    return {
        "sid": data_session.sid,
        "sim_sid": data_session.sim_sid,
        "account_sid": data_session.account_sid,
        "radio_link": data_session.radio_link,
        "operator_mcc": data_session.mcc,
        "operator_mnc": data_session.mnc,
        "operator_country": wireless.alpha3(data_session.iso_country),
        "operator_name": data_session.operator_name,
        "cell_id": data_session.cell_id,
        # No cell-location database: the estimate is unknown.
        "cell_location_estimate": None,
        "packets_uploaded": data_session.packets_up,
        "packets_downloaded": data_session.packets_down,
        "last_updated": iso(data_session.last_updated),
        "start": iso(data_session.start),
        "end": iso(data_session.end),
        "imei": data_session.imei,
    }


@router.get("/Sims/{sim}/DataSessions")
async def list_data_sessions(request: Request, sim: str) -> Response:
    caller = await authenticate(request)
    params = query_params(request)
    spec = page_spec(params, validate_key=lambda key: is_sid(key, Prefix.DATA_SESSION))
    async with reading(request) as session:
        page = await service.list_data_sessions(session, caller, sim, spec)
    return json_response(list_body(request, params, "data_sessions", spec, page, [render(s) for s in page.items]))
