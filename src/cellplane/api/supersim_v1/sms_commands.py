"""SmsCommands: send (create), list, fetch — wire in, service call, JSON out."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from cellplane.api.wire.auth import authenticate
from cellplane.api.wire.db import context, reading, transaction
from cellplane.api.wire.forms import form_params, query_params
from cellplane.api.wire.guard import guarded
from cellplane.api.wire.paging import list_body, page_spec
from cellplane.api.wire.render import iso, json_response
from cellplane.api.wire.urls import surface_base
from cellplane.domain import sms_commands as rules
from cellplane.domain.ids import is_sid
from cellplane.services import sms_commands as service
from cellplane.store.models import SmsCommand

router = APIRouter(route_class=guarded("commands"))
MAX_PAYLOAD_FIELD = 1600  # far above any SMS: a longer field is refused before it is measured


def render(request: Request, command: SmsCommand) -> dict[str, Any]:
    return {
        "sid": command.sid,
        "account_sid": command.account_sid,
        "sim_sid": command.sim_sid,
        "payload": command.payload,
        "status": command.status,
        "direction": command.direction,
        # Not in the official spec (issue 4 adds them, as on IP Commands): why a command failed.
        "error_code": command.error_code,
        "error_message": command.error_message,
        "date_created": iso(command.date_created),
        "date_updated": iso(command.date_updated),
        "url": f"{surface_base(request, 'supersim/v1')}/SmsCommands/{command.sid}",
    }


@router.post("/SmsCommands")
async def create_sms_command(request: Request) -> Response:
    caller = await authenticate(request)
    params = await form_params(request)
    command = service.NewSmsCommand(
        sim=params.required("Sim", max_length=64),
        payload=params.required("Payload", max_length=MAX_PAYLOAD_FIELD),
        callback_url=params.url("CallbackUrl"),
        callback_method=params.method("CallbackMethod"),
    )
    async with transaction(request) as session:
        created = await service.create(session, context(request), caller, command)
        body = render(request, created)
    return json_response(body, status=201)


@router.get("/SmsCommands")
async def list_sms_commands(request: Request) -> Response:
    caller = await authenticate(request)
    params = query_params(request)
    spec = page_spec(params, validate_key=is_sid)
    query = service.CommandQuery(
        sim=params.string("Sim", max_length=64),
        status=params.choice("Status", rules.STATUSES),
        direction=params.choice("Direction", rules.DIRECTIONS),
    )
    async with reading(request) as session:
        page = await service.list_commands(session, caller, query, spec)
    items = [render(request, command) for command in page.items]
    return json_response(list_body(request, params, "sms_commands", spec, page, items))


@router.get("/SmsCommands/{sid}")
async def fetch_sms_command(request: Request, sid: str) -> Response:
    caller = await authenticate(request)
    async with reading(request) as session:
        command = await service.fetch(session, caller, sid)
    return json_response(render(request, command))
