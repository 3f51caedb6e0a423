"""AuditEvents: every change to the account, newest first — list (by actor, resource, time) and fetch."""

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
from cellplane.services import audit as service
from cellplane.store.models import AuditEvent

router = APIRouter(route_class=guarded("audit"))


def render(request: Request, event: AuditEvent) -> dict[str, Any]:
    return {
        "sid": event.sid,
        "account_sid": event.account_sid,
        "actor_kind": event.actor_kind,
        "actor_sid": event.actor_sid,
        "role": event.role,
        "action": event.action,
        "resource": event.resource,
        "resource_sid": event.resource_sid,
        "status": event.status,
        "source": event.source,
        "timestamp": iso(event.timestamp),
        "url": f"{surface_base(request, 'cellplane/v1')}/AuditEvents/{event.sid}",
    }


@router.get("/AuditEvents")
async def list_audit_events(request: Request) -> Response:
    caller = await authenticate(request)
    params = query_params(request)
    spec = page_spec(params, validate_key=is_sid)
    wanted = service.AuditRequest(
        actor=params.string("Actor", max_length=64, allow_empty=False),
        resource=params.string("Resource", max_length=32, allow_empty=False),
        start_time=params.timestamp("StartTime"),
        end_time=params.timestamp("EndTime"),
    )
    async with reading(request) as session:
        page = await service.list_events(session, caller, wanted, spec)
    body = list_body(request, params, "audit_events", spec, page, [render(request, e) for e in page.items])
    return json_response(body)


@router.get("/AuditEvents/{sid}")
async def fetch_audit_event(request: Request, sid: str) -> Response:
    caller = await authenticate(request)
    async with reading(request) as session:
        event = await service.fetch(session, caller, sid)
    return json_response(render(request, event))
