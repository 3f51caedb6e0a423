"""IpCommands: send (create), list, fetch — wire in, service call, JSON out."""

from __future__ import annotations

import dataclasses
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from cellplane.api.wire.auth import authenticate
from cellplane.api.wire.db import reading
from cellplane.api.wire.forms import form_params, query_params
from cellplane.api.wire.guard import guarded
from cellplane.api.wire.paging import list_body, page_spec
from cellplane.api.wire.render import iso, json_response
from cellplane.api.wire.urls import surface_base
from cellplane.domain import ip_commands as rules
from cellplane.domain.errors import MissingParameter, NotFound
from cellplane.domain.ids import is_sid
from cellplane.services import ip_commands as service
from cellplane.services import sims as sims_service
from cellplane.services.ip_command_outbox import IpCommandOutbox
from cellplane.store.models import IpCommand

router = APIRouter(route_class=guarded("commands"))


def render(request: Request, command: IpCommand | service.Outgoing) -> dict[str, Any]:
    return {
        "sid": command.sid,
        "account_sid": command.account_sid,
        "sim_sid": command.sim_sid,
        "sim_iccid": command.sim_iccid,
        "status": command.status,
        "direction": command.direction,
        "device_ip": command.device_ip,
        "device_port": command.device_port,
        "payload_type": command.payload_type,
        "payload": command.payload,
        # Not in the official spec (issue 4 adds them): why a command failed, or why its callback did.
        "error_code": command.error_code,
        "error_message": command.error_message,
        "date_created": iso(command.date_created),
        "date_updated": iso(command.date_updated),
        "url": f"{surface_base(request, 'supersim/v1')}/IpCommands/{command.sid}",
    }


@router.post("/IpCommands")
async def create_ip_command(request: Request) -> Response:
    """POST /IpCommands, a hot path kept lean (bench/RESULTS.md, Commands): no database connection here; the
    group-commit outbox looks the SIM up and writes the command with the rest of its batch, and this answers 201
    once the row is committed. A plain Starlette endpoint: all it needs comes from the request (the outbox from
    app.state)."""
    caller = await authenticate(request)
    params = await form_params(request)
    port = params.integer("DevicePort")
    if port is None:
        raise MissingParameter("DevicePort")
    new = service.NewIpCommand(
        sim=params.required("Sim", max_length=64),
        payload=params.required("Payload"),
        device_port=port,
        payload_type=params.choice("PayloadType", rules.PAYLOAD_TYPES) or "text",
        callback_url=params.url("CallbackUrl"),
        callback_method=params.method("CallbackMethod"),
    )
    service.check(new)
    outbox: IpCommandOutbox = request.app.state.ip_command_outbox
    try:
        command = await outbox.submit(caller.account_sid, new)  # the SIM is looked up with the batch
    except NotFound:
        if caller.parent_sid is not None:
            raise
        # A parent may command its subaccounts' SIMs, as it may fetch them: the command is the SIM's account's.
        async with reading(request) as session:
            sim = await sims_service.find_addressable(session, caller, new.sim)
        if sim is None or sim.account_sid is None or sim.account_sid == caller.account_sid:
            raise
        command = await outbox.submit(sim.account_sid, dataclasses.replace(new, sim=sim.sid))
    body = render(request, command)
    return json_response(body, status=201)


# Served ahead of FastAPI's routing (api/wire/hot.py): the POST is the platform's busiest write.
HOT_ROUTES = [("POST", "/IpCommands", create_ip_command)]


@router.get("/IpCommands")
async def list_ip_commands(request: Request) -> Response:
    caller = await authenticate(request)
    params = query_params(request)
    spec = page_spec(params, validate_key=is_sid)
    query = service.CommandQuery(
        sim=params.string("Sim", max_length=64),
        sim_iccid=params.string("SimIccid", max_length=22),
        status=params.choice("Status", rules.STATUSES),
        direction=params.choice("Direction", rules.DIRECTIONS),
    )
    async with reading(request) as session:
        page = await service.list_commands(session, caller, query, spec)
    items = [render(request, command) for command in page.items]
    return json_response(list_body(request, params, "ip_commands", spec, page, items))


@router.get("/IpCommands/{sid}")
async def fetch_ip_command(request: Request, sid: str) -> Response:
    caller = await authenticate(request)
    async with reading(request) as session:
        command = await service.fetch(session, caller, sid)
    return json_response(render(request, command))
