"""IMEI changes: /things/v1/imeiChanges (?thingId=) and /things/v1/things/{id}/imeiChanges, newest last (keyset)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from cellplane.api.things_v1.wire import caller, iso, page_body, page_spec
from cellplane.api.wire.db import reading
from cellplane.api.wire.guard import guarded
from cellplane.services import things as things_service
from cellplane.services import things_imei as service
from cellplane.store.models import ImeiChange

router = APIRouter(route_class=guarded("things"))


def render(change: ImeiChange) -> dict[str, Any]:
    return {
        "id": change.sid,
        "thingId": change.thing_sid,
        "previousImei": change.previous_imei,
        "imei": change.imei,
        "network": change.network,
        "at": iso(change.at),
        "rejected": change.rejected,
    }


@router.get("/imeiChanges")
async def list_imei_changes(request: Request) -> Response:
    who = await caller(request)
    spec = page_spec(request)
    async with reading(request) as session:
        page = await service.list_changes(session, who, spec, request.query_params.get("thingId"))
    return page_body(page, [render(change) for change in page.items])


@router.get("/things/{key}/imeiChanges")
async def list_thing_imei_changes(request: Request, key: str) -> Response:
    who = await caller(request)
    spec = page_spec(request)
    async with reading(request) as session:
        thing = await things_service.fetch(session, who, key)
        page = await service.list_changes(session, who, spec, thing.sid)
    return page_body(page, [render(change) for change in page.items])
