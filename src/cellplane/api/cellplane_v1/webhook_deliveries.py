"""WebhookDeliveries: every callback the platform made for the account, newest first — list, and fetch with attempts."""

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
from cellplane.services import webhook_deliveries as service
from cellplane.store.models import WebhookAttempt, WebhookDelivery

router = APIRouter(route_class=guarded("webhooks"))


def render(request: Request, delivery: WebhookDelivery) -> dict[str, Any]:
    return {
        "sid": delivery.sid,
        "account_sid": delivery.account_sid,
        "event": delivery.event,
        "resource_sid": delivery.resource_sid,
        # Where the callback goes; `url` is this resource's own address, as on every resource.
        "callback_url": delivery.url,
        "callback_method": delivery.method,
        "parameters": dict(delivery.params),
        "status": delivery.status,
        "attempts": delivery.attempts,
        "last_status_code": delivery.last_status_code,
        "last_error": delivery.last_error,
        "date_created": iso(delivery.date_created),
        "date_updated": iso(delivery.date_updated),
        "url": f"{surface_base(request, 'cellplane/v1')}/WebhookDeliveries/{delivery.sid}",
    }


def render_attempt(attempt: WebhookAttempt) -> dict[str, Any]:
    return {
        "attempt": attempt.attempt,
        "status_code": attempt.status_code,
        "error": attempt.error,
        "duration_ms": attempt.duration_ms,
        "date_created": iso(attempt.date_created),
    }


@router.get("/WebhookDeliveries")
async def list_webhook_deliveries(request: Request) -> Response:
    caller = await authenticate(request)
    params = query_params(request)
    spec = page_spec(params, validate_key=is_sid)
    query = service.DeliveryQuery(
        status=params.choice("Status", service.STATUSES),
        event=params.string("Event", max_length=48, allow_empty=False),
        resource_sid=params.string("ResourceSid", max_length=34, allow_empty=False),
    )
    async with reading(request) as session:
        page = await service.list_deliveries(session, caller, query, spec)
    items = [render(request, delivery) for delivery in page.items]
    return json_response(list_body(request, params, "webhook_deliveries", spec, page, items))


@router.get("/WebhookDeliveries/{sid}")
async def fetch_webhook_delivery(request: Request, sid: str) -> Response:
    caller = await authenticate(request)
    async with reading(request) as session:
        delivery, attempts = await service.fetch(session, caller, sid)
    body = render(request, delivery)
    body["attempt_history"] = [render_attempt(attempt) for attempt in attempts]
    return json_response(body)
