"""SettingsUpdates: list the over-the-air settings changes of the caller's Super SIMs (no create in the API)."""

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
from cellplane.domain.ids import Prefix, is_sid
from cellplane.services import settings_updates as service
from cellplane.store.models import SettingsUpdate

router = APIRouter(route_class=guarded("sims"))


def render(update: SettingsUpdate) -> dict[str, Any]:
    return {
        "sid": update.sid,
        "iccid": update.iccid,
        "sim_sid": update.sim_sid,
        "status": update.status,
        "packages": update.packages,
        "date_completed": iso(update.date_completed),
        "date_created": iso(update.date_created),
        "date_updated": iso(update.date_updated),
    }


@router.get("/SettingsUpdates")
async def list_settings_updates(request: Request) -> Response:
    caller = await authenticate(request)
    params = query_params(request)
    spec = page_spec(params, lambda key: is_sid(key, Prefix.SETTINGS_UPDATE))
    status = params.choice("Status", service.STATUSES)
    sim = params.string("Sim", max_length=64)
    async with reading(request) as session:
        page = await service.list_updates(session, caller, spec, sim=sim, status=status)
    items = [render(u) for u in page.items]
    return json_response(list_body(request, params, "settings_updates", spec, page, items))
