"""Sims: list, fetch, update, delete — wire in, service call, JSON out."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from cellplane.api.wire.auth import authenticate
from cellplane.api.wire.db import context, reading, transaction
from cellplane.api.wire.forms import Params, form_params, query_params
from cellplane.api.wire.guard import guarded
from cellplane.api.wire.paging import list_body, page_spec
from cellplane.api.wire.render import iso, json_response
from cellplane.api.wire.urls import surface_base
from cellplane.domain import lifecycle
from cellplane.domain.ids import Prefix, is_sid
from cellplane.services import wireless_sims as service
from cellplane.store.models import Sim

router = APIRouter(route_class=guarded("sims"))
SURFACE = "wireless/v1"

# Wire parameter -> the Sim attribute it sets (URL/method pairs; methods are any of domain/callbacks.py's six).
URL_PARAMS = {
    "CallbackUrl": "callback_url",
    "CommandsCallbackUrl": "commands_callback_url",
    "SmsUrl": "sms_url",
    "SmsFallbackUrl": "sms_fallback_url",
    "VoiceUrl": "voice_url",
    "VoiceFallbackUrl": "voice_fallback_url",
}
METHOD_PARAMS = {
    "CallbackMethod": "callback_method",
    "CommandsCallbackMethod": "commands_callback_method",
    "SmsMethod": "sms_method",
    "SmsFallbackMethod": "sms_fallback_method",
    "VoiceMethod": "voice_method",
    "VoiceFallbackMethod": "voice_fallback_method",
}


def render(request: Request, sim: Sim, ip_address: str | None) -> dict[str, Any]:
    base = surface_base(request, SURFACE)
    url = f"{base}/Sims/{sim.sid}"
    return {
        "sid": sim.sid,
        "unique_name": sim.unique_name,
        "account_sid": sim.account_sid,
        "rate_plan_sid": sim.rate_plan_sid,
        "friendly_name": sim.friendly_name,
        "iccid": sim.iccid,
        "e_id": sim.eid,
        "status": lifecycle.wireless_name(sim.status),
        "reset_status": sim.reset_status,
        # Every method "Default is POST" (Sim resource): shown even before its URL is set.
        "commands_callback_url": sim.commands_callback_url,
        "commands_callback_method": sim.commands_callback_method or "POST",
        "sms_fallback_method": sim.sms_fallback_method or "POST",
        "sms_fallback_url": sim.sms_fallback_url,
        "sms_method": sim.sms_method or "POST",
        "sms_url": sim.sms_url,
        "voice_fallback_method": sim.voice_fallback_method or "POST",
        "voice_fallback_url": sim.voice_fallback_url,
        "voice_method": sim.voice_method or "POST",
        "voice_url": sim.voice_url,
        "date_created": iso(sim.claimed_at or sim.date_created),
        "date_updated": iso(sim.date_updated),
        "url": url,
        "links": {
            "usage_records": f"{url}/UsageRecords",
            "rate_plan": f"{base}/RatePlans/{sim.rate_plan_sid}" if sim.rate_plan_sid else None,
            "data_sessions": f"{url}/DataSessions",
        },
        "ip_address": ip_address,
    }


def _change(params: Params) -> service.SimChange:
    urls: dict[str, str | None] = {attr: params.url(name) for name, attr in URL_PARAMS.items()}
    urls.update({attr: params.method(name) for name, attr in METHOD_PARAMS.items()})
    return service.SimChange(
        unique_name=params.string("UniqueName", max_length=64),
        friendly_name=params.string("FriendlyName", max_length=64),
        rate_plan=params.string("RatePlan", max_length=64),
        status=params.choice("Status", lifecycle.WIRELESS_STATUSES),
        reset_status=params.choice("ResetStatus", (service.RESETTING,)),
        account_sid=params.string("AccountSid", max_length=34),
        urls=urls,
    )


@router.get("/Sims")
async def list_sims(request: Request) -> Response:
    caller = await authenticate(request)
    params = query_params(request)
    spec = page_spec(params, validate_key=lambda key: is_sid(key, Prefix.WIRELESS_SIM))
    async with reading(request) as session:
        page = await service.list_sims(
            session,
            caller,
            spec,
            status=params.choice("Status", lifecycle.WIRELESS_STATUSES),
            iccid=params.string("Iccid", max_length=22),
            rate_plan=params.string("RatePlan", max_length=64),
            eid=params.string("EId", max_length=32),
            registration_code=params.string("SimRegistrationCode", max_length=32),
        )
        items = [render(request, sim, await service.ip_address(session, sim)) for sim in page.items]
    return json_response(list_body(request, params, "sims", spec, page, items))


@router.get("/Sims/{sid}")
async def fetch_sim(request: Request, sid: str) -> Response:
    caller = await authenticate(request)
    async with reading(request) as session:
        sim = await service.fetch(session, caller, sid)
        body = render(request, sim, await service.ip_address(session, sim))
    return json_response(body)


@router.post("/Sims/{sid}")
async def update_sim(request: Request, sid: str) -> Response:
    caller = await authenticate(request)
    change = _change(await form_params(request))
    async with transaction(request) as session:
        sim, is_async = await service.update(session, context(request), caller, sid, change)
        body = render(request, sim, await service.ip_address(session, sim))
    return json_response(body, status=202 if is_async else 200)


@router.delete("/Sims/{sid}")
async def delete_sim(request: Request, sid: str) -> Response:
    caller = await authenticate(request)
    async with transaction(request) as session:
        await service.delete(session, context(request), caller, sid)
    return Response(status_code=204)
