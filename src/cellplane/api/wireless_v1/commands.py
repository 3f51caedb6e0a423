"""Commands: send (create), list, fetch, delete — wire in, service call, JSON out."""

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
from cellplane.domain import wireless_commands as rules
from cellplane.domain.ids import Prefix, is_sid
from cellplane.services import wireless_commands as service
from cellplane.store.models import WirelessCommand

router = APIRouter(route_class=guarded("commands"))
# Far above any Command (1300 bytes of IP payload is 1736 base64 characters): longer is refused unmeasured.
MAX_COMMAND_FIELD = 4000


def render(request: Request, command: WirelessCommand) -> dict[str, Any]:
    return {
        "sid": command.sid,
        "account_sid": command.account_sid,
        "sim_sid": command.sim_sid,
        "command": command.command,
        "command_mode": command.command_mode,
        "transport": command.transport,
        "delivery_receipt_requested": command.delivery_receipt_requested,
        "status": command.status,
        "direction": command.direction,
        "date_created": iso(command.date_created),
        "date_updated": iso(command.date_updated),
        "url": f"{surface_base(request, 'wireless/v1')}/Commands/{command.sid}",
    }


@router.post("/Commands")
async def create_command(request: Request) -> Response:
    caller = await authenticate(request)
    params = await form_params(request)
    command = service.NewCommand(
        command=params.required("Command", max_length=MAX_COMMAND_FIELD),
        sim=params.string("Sim", max_length=64),
        command_mode=params.string("CommandMode", max_length=16),
        # Not a parameter of the official spec, which shows `transport` but has no way to choose it (see
        # domain/wireless_commands.py): by default text Commands go as SMS and binary ones over IP.
        transport=params.string("Transport", max_length=16),
        include_sid=params.string("IncludeSid", max_length=16),
        delivery_receipt_requested=params.boolean("DeliveryReceiptRequested"),
        callback_url=params.url("CallbackUrl"),
        callback_method=params.method("CallbackMethod"),
    )
    async with transaction(request) as session:
        created = await service.create(session, context(request), caller, command)
        body = render(request, created)
    return json_response(body, status=201)


@router.get("/Commands")
async def list_commands(request: Request) -> Response:
    caller = await authenticate(request)
    params = query_params(request)
    spec = page_spec(params, validate_key=lambda key: is_sid(key, Prefix.WIRELESS_COMMAND))
    query = service.CommandQuery(
        sim=params.string("Sim", max_length=64),
        status=params.choice("Status", rules.STATUSES),
        direction=params.choice("Direction", rules.DIRECTIONS),
        transport=params.choice("Transport", rules.TRANSPORTS),
    )
    async with reading(request) as session:
        page = await service.list_commands(session, caller, query, spec)
    items = [render(request, command) for command in page.items]
    return json_response(list_body(request, params, "commands", spec, page, items))


@router.get("/Commands/{sid}")
async def fetch_command(request: Request, sid: str) -> Response:
    caller = await authenticate(request)
    async with reading(request) as session:
        command = await service.fetch(session, caller, sid)
    return json_response(render(request, command))


@router.delete("/Commands/{sid}")
async def delete_command(request: Request, sid: str) -> Response:
    caller = await authenticate(request)
    async with transaction(request) as session:
        await service.delete(session, caller, sid)
    return Response(status_code=204)
