"""A Thing's SMS: list, send (`text`, at most one SMS) — refused with 400 naming `services.sms` when it is off."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from cellplane.api.things_v1.wire import body, caller, iso, page_body, page_spec, resource
from cellplane.api.wire.db import context, reading, transaction
from cellplane.api.wire.guard import guarded
from cellplane.domain.errors import InvalidParameter
from cellplane.domain.policy import RejectCode
from cellplane.services import things_sms as service
from cellplane.store.models import SmsCommand

router = APIRouter(route_class=guarded("things"))
FIELDS = ("text",)


def render(sms: SmsCommand) -> dict[str, Any]:
    return {
        "id": sms.sid,
        "thingId": sms.sim_sid,
        "direction": sms.direction,
        "text": sms.payload,
        "status": sms.status,
        "createdAt": iso(sms.date_created),
        "updatedAt": iso(sms.date_updated),
    }


@router.get("/things/{key}/sms")
async def list_sms(request: Request, key: str) -> Response:
    who = await caller(request)
    spec = page_spec(request)
    async with reading(request) as session:
        page = await service.list_sms(session, who, key, spec)
    return page_body(page, [render(sms) for sms in page.items])


@router.post("/things/{key}/sms")
async def send_sms(request: Request, key: str) -> Response:
    who = await caller(request)
    values = await body(request, FIELDS)
    async with transaction(request) as session:
        sms = await service.send(session, context(request), who, key, values.get("text"))
        content = render(sms) if sms is not None else None
    if sms is None:
        # The refusal's connection event is committed; the caller learns which setting refused it.
        raise InvalidParameter("services.sms", f"{RejectCode.SMS_DISABLED.reason}: the SMS was not sent")
    assert content is not None
    return resource(content, sms.sid, sms.date_updated, status=201)
