"""UsageRecords of the account and of one SIM (GET only): data and Commands usage by zone — wire in, JSON out."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from cellplane.api.wire.auth import authenticate
from cellplane.api.wire.db import context, reading
from cellplane.api.wire.forms import Params, query_params
from cellplane.api.wire.guard import guarded
from cellplane.api.wire.paging import list_body, page_spec
from cellplane.api.wire.render import iso, json_response
from cellplane.domain.caller import Caller
from cellplane.domain.paging import Page, PageSpec
from cellplane.services import wireless_sims
from cellplane.services import wireless_usage as service

router = APIRouter(route_class=guarded("usage"))


def _commands(usage: service.Counters) -> dict[str, Any]:
    # Commands are not rated: billed stays 0, as in the spec's example.
    return {
        "billing_units": service.BILLING_UNITS,
        "billed": 0,
        "total": usage.to_sim + usage.from_sim,
        "from_sim": usage.from_sim,
        "to_sim": usage.to_sim,
    }


def _data(usage: service.Counters, billed: Decimal | None = None) -> dict[str, Any]:
    return {
        "billing_units": service.BILLING_UNITS,
        "billed": float(usage.data_billed if billed is None else billed),
        "total": usage.upload + usage.download,
        "upload": usage.upload,
        "download": usage.download,
        "units": "bytes",
    }


def render(record: service.WirelessUsageRecord, with_sim: bool) -> dict[str, Any]:
    """Each usage object: the totals, then home, national_roaming and one international_roaming entry per country."""
    abroad = sorted(record.international_roaming.items())
    body: dict[str, Any] = {
        "account_sid": record.account_sid,
        "period": {"start": iso(record.start), "end": iso(record.end)},
        "commands": {
            **_commands(record.total),
            "home": _commands(record.home),
            "national_roaming": _commands(record.national_roaming),
            "international_roaming": [{"iso_country": country, **_commands(usage)} for country, usage in abroad],
        },
        "data": {
            **_data(record.total, record.data_billed),
            "home": _data(record.home),
            "national_roaming": _data(record.national_roaming),
            "international_roaming": [{"iso_country": country, **_data(usage)} for country, usage in abroad],
        },
    }
    return {"sim_sid": record.sim_sid, **body} if with_sim else body


async def _page(request: Request, caller: Caller, params: Params, spec: PageSpec, sim: str | None) -> Page[Any]:
    granularity = params.choice("Granularity", service.GRANULARITIES)
    start, end = params.timestamp("Start"), params.timestamp("End")
    async with reading(request) as session:
        account_sid, sim_sid = caller.account_sid, None
        if sim is not None:
            found = await wireless_sims.fetch(session, caller, sim)
            account_sid, sim_sid = found.account_sid or caller.account_sid, found.sid
        return await service.list_records(
            session,
            account_sid,
            spec,
            context(request).clock(),
            sim_sid=sim_sid,
            granularity=granularity,
            start=start,
            end=end,
        )


@router.get("/UsageRecords")
async def list_account_usage_records(request: Request) -> Response:
    caller = await authenticate(request)
    params = query_params(request)
    spec = page_spec(params, validate_key=service.is_page_key)
    page = await _page(request, caller, params, spec, None)
    items = [render(record, with_sim=False) for record in page.items]
    return json_response(list_body(request, params, "usage_records", spec, page, items))


@router.get("/Sims/{sim}/UsageRecords")
async def list_sim_usage_records(request: Request, sim: str) -> Response:
    caller = await authenticate(request)
    params = query_params(request)
    spec = page_spec(params, validate_key=service.is_page_key)
    page = await _page(request, caller, params, spec, sim)
    items = [render(record, with_sim=True) for record in page.items]
    return json_response(list_body(request, params, "usage_records", spec, page, items))
