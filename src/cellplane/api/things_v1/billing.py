"""Price plan and billing reports (issue 18): wire in, the rating service, JSON or CSV out.

Amounts are decimal strings (never floats). A report with more lines than the platform's setting is stored for the
account and answered 302 to its download (`/billingReports/downloads/{id}`), which expires.
"""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from cellplane.api.things_v1.wire import PREFIX, body, caller, iso
from cellplane.api.wire.db import context, reading, transaction
from cellplane.api.wire.guard import guarded
from cellplane.api.wire.render import json_response
from cellplane.domain import rating
from cellplane.domain.errors import InvalidParameter, NotFound
from cellplane.services import things_billing as service

router = APIRouter(route_class=guarded("billing"))
PLAN_FIELDS = ("currency", "monthlyFee", "perMb", "perSms")
CSV = "text/csv"
JSON = "application/json"
CSV_COLUMNS = ("id", "dataMb", "sms", "monthlyFees", "charges", "total")
# The CSV's last row carries the report's total under this id.
CSV_TOTAL = "TOTAL"

money = rating.amount_text


def render_plan(plan: rating.PricePlan, account_sid: str, updated: Any) -> dict[str, Any]:
    return {
        "accountId": account_sid,
        "currency": plan.currency,
        "monthlyFee": money(plan.monthly_fee),
        "perMb": money(plan.per_mb),
        "perSms": money(plan.per_sms),
        # True until the account sets its own plan: it is rated with the platform's default.
        "default": updated is None,
        "updatedAt": iso(updated),
    }


def render_line(line: rating.Line) -> dict[str, Any]:
    return {
        "id": line.scope_id,
        "dataMb": money(line.data_mb),
        "sms": line.sms,
        "monthlyFees": money(line.fee_charge),
        "charges": money(line.charges),
        "total": money(line.total),
        "dataCharge": money(line.data_charge),
        "smsCharge": money(line.sms_charge),
        "monthlyFeeCount": line.monthly_fees,
    }


def render_json(report: service.Report) -> bytes:
    return orjson.dumps(
        {
            "cycle": report.cycle.name,
            "scope": report.scope,
            "id": report.scope_id,
            "currency": report.plan.currency,
            "pricePlan": {
                "monthlyFee": money(report.plan.monthly_fee),
                "perMb": money(report.plan.per_mb),
                "perSms": money(report.plan.per_sms),
            },
            "lines": [render_line(line) for line in report.lines],
            "total": money(report.total),
        }
    )


def render_csv(report: service.Report) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for line in report.lines:
        writer.writerow(
            (
                line.scope_id,
                money(line.data_mb),
                line.sms,
                money(line.fee_charge),
                money(line.charges),
                money(line.total),
            )
        )
    writer.writerow((CSV_TOTAL, "", "", "", "", money(report.total)))
    return out.getvalue()


def _wants_csv(request: Request) -> bool:
    return CSV in request.headers.get("accept", "")


@router.get("/pricePlan")
async def get_price_plan(request: Request) -> Response:
    """The account's price plan (`default` true while it is the platform's): amounts as decimal strings."""
    who = await caller(request)
    async with reading(request) as session:
        plan, updated = await service.price_plan(session, who)
    return json_response(render_plan(plan, who.account_sid, updated))


@router.put("/pricePlan")
async def put_price_plan(request: Request) -> Response:
    """Set the plan: `currency`, `monthlyFee` (per Thing ACTIVE at some moment of a cycle), `perMb` (10^6 bytes),
    `perSms`, all four required, prices as decimal strings of at most 6 decimals."""
    who = await caller(request)
    values = await body(request, PLAN_FIELDS)
    for name in PLAN_FIELDS:
        if name not in values:
            raise InvalidParameter(name, f"{name} is required")
    plan = rating.PricePlan(
        currency=rating.parse_currency(values["currency"]),
        monthly_fee=rating.parse_price(values["monthlyFee"], "monthlyFee"),
        per_mb=rating.parse_price(values["perMb"], "perMb"),
        per_sms=rating.parse_price(values["perSms"], "perSms"),
    )
    async with transaction(request) as session:
        updated = await service.set_price_plan(session, who, plan)
    return json_response(render_plan(plan, who.account_sid, updated))


@router.get("/billingReports")
async def billing_report(request: Request) -> Response:
    """A cycle's (UTC month, `cycle=YYYY-MM`) charges per Thing of the scope (`account`, `thing` or `thingsGroup` with
    `id`). Each charge is rounded half-up to the cent; the total is the sum of the lines. JSON, or CSV with
    `Accept: text/csv`; over the platform's line threshold a 302 to a stored download that expires."""
    who = await caller(request)
    query = request.query_params
    as_csv = _wants_csv(request)
    ctx = context(request)
    async with reading(request) as session:
        report = await service.report(session, who, query.get("cycle"), query.get("scope"), query.get("id"))
    media_type = CSV if as_csv else JSON
    content = render_csv(report) if as_csv else render_json(report).decode()
    if len(report.lines) <= ctx.report_inline_lines:
        return Response(content, media_type=media_type)
    async with transaction(request) as session:
        ttl = timedelta(seconds=ctx.report_download_ttl)
        sid = await service.store_download(session, who, media_type, content, ttl, ctx.clock())
    return RedirectResponse(f"{PREFIX}/billingReports/downloads/{sid}", status_code=302)


@router.get("/billingReports/downloads/{sid}")
async def billing_report_download(request: Request, sid: str) -> Response:
    """A stored report, for the account that asked for it, until it expires (404 after)."""
    who = await caller(request)
    async with reading(request) as session:
        found = await service.fetch_download(session, who, sid, context(request).clock())
    if found is None:
        raise NotFound("Billing report download", sid)
    return Response(found.content, media_type=found.media_type)
