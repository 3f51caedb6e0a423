"""UsageRecords: usage summed by time bucket and dimension (GET only) — wire in, service call, JSON out."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from cellplane.api.wire.auth import authenticate
from cellplane.api.wire.db import context, reading
from cellplane.api.wire.forms import query_params
from cellplane.api.wire.guard import guarded
from cellplane.api.wire.paging import list_body, page_spec
from cellplane.api.wire.render import iso, json_response
from cellplane.services import usage_records as service

router = APIRouter(route_class=guarded("usage"))


def render(record: service.UsageRecord) -> dict[str, Any]:
    return {
        "account_sid": record.account_sid,
        "sim_sid": record.sim_sid,
        "network_sid": record.network_sid,
        "fleet_sid": record.fleet_sid,
        "iso_country": record.iso_country,
        "period": {"start_time": iso(record.start_time), "end_time": iso(record.end_time)},
        "data_upload": record.data_upload,
        "data_download": record.data_download,
        "data_total": record.data_total,
        # A JSON number, as the spec types it (its examples quote it; the SDKs read either).
        "data_total_billed": float(record.data_total_billed),
        "billed_unit": record.billed_unit,
    }


@router.get("/UsageRecords")
async def list_usage_records(request: Request) -> Response:
    caller = await authenticate(request)
    params = query_params(request)
    spec = page_spec(params, validate_key=service.is_page_key)
    usage = service.UsageRequest(
        sim=params.string("Sim", max_length=64, allow_empty=False),
        fleet=params.string("Fleet", max_length=64, allow_empty=False),
        network=params.string("Network", max_length=34, allow_empty=False),
        iso_country=params.string("IsoCountry", max_length=2, allow_empty=False),
        group=params.choice("Group", service.GROUPS),
        granularity=params.choice("Granularity", service.GRANULARITIES),
        start_time=params.timestamp("StartTime"),
        end_time=params.timestamp("EndTime"),
    )
    async with reading(request) as session:
        page = await service.list_usage_records(session, caller, usage, spec, context(request).clock())
    return json_response(list_body(request, params, "usage_records", spec, page, [render(r) for r in page.items]))
