"""Sims/{SimSid}/BillingPeriods: list a Super SIM's billing periods (materialized up to now first)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from cellplane.api.wire.auth import authenticate
from cellplane.api.wire.db import context, transaction
from cellplane.api.wire.forms import query_params
from cellplane.api.wire.guard import guarded
from cellplane.api.wire.paging import list_body, page_spec
from cellplane.api.wire.render import iso, json_response
from cellplane.domain.ids import Prefix, is_sid
from cellplane.services import billing as service
from cellplane.services import sims
from cellplane.store.models import BillingPeriod

router = APIRouter(route_class=guarded("billing"))


def render(period: BillingPeriod) -> dict[str, Any]:
    return {
        "sid": period.sid,
        "account_sid": period.account_sid,
        "sim_sid": period.sim_sid,
        "start_time": iso(period.start_time),
        "end_time": iso(period.end_time),
        "period_type": period.period_type,
        "date_created": iso(period.date_created),
        "date_updated": iso(period.date_updated),
    }


@router.get("/Sims/{sim_sid}/BillingPeriods")
async def list_billing_periods(request: Request, sim_sid: str) -> Response:
    caller = await authenticate(request)
    params = query_params(request)
    spec = page_spec(params, lambda key: is_sid(key, Prefix.BILLING_PERIOD))
    # A write transaction: listing may write the monthly periods that came due since the last look.
    async with transaction(request) as session:
        sim = await sims.fetch(session, caller, sim_sid)
        page = await service.list_periods(session, sim, spec, context(request).clock())
        items = [render(p) for p in page.items]
    return json_response(list_body(request, params, "billing_periods", spec, page, items))
