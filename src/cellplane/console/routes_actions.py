"""The console's actions (POST): each checks CSRF and the role (console/web.py), calls the same service as the
API, commits, and answers with the fragment htmx swaps in; live changes that follow arrive by the feed."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response
from starlette.responses import StreamingResponse as Streaming

from cellplane.console.lab import LabError
from cellplane.console.live import Subscription
from cellplane.console.routes_pages import fetch_sim
from cellplane.console.web import Form, Person, context, form_values, page, refused, render, text
from cellplane.console.web import action as act
from cellplane.domain import ip_commands as ip_rules
from cellplane.domain.errors import CellplaneError, InvalidParameter
from cellplane.domain.ids import Prefix, is_sid
from cellplane.services import ip_commands, overview, sms_commands, things_bulk, webhook_deliveries
from cellplane.services import sims as sims_service
from cellplane.services import things as things_service
from cellplane.services import wireless_sims as wireless_service

router = APIRouter()
SUPERSIM_STATUSES = ("active", "inactive")
WIRELESS_STATUSES = ("active", "suspended", "deactivated")
SELECTION_LIMIT = 50  # one page of the SIM list
THING_STATES = {"active": "ACTIVE", "inactive": "SUSPENDED"}  # a Thing's states as its stored status


def _choice(form: Form, name: str, choices: tuple[str, ...]) -> str:
    value = text(form.get(name), 32)
    if value not in choices:
        raise InvalidParameter(name, f"{name} must be one of {', '.join(choices)}")
    return value


@router.post("/sims/{sid}/status")
@act("sims:write")
async def change_status(request: Request, person: Person, form: Form, sid: str) -> Response:
    ctx = context(request)
    async with ctx.sessions() as session, session.begin():
        if is_sid(sid, Prefix.WIRELESS_SIM):
            status = _choice(form, "status", WIRELESS_STATUSES)
            sim, _ = await wireless_service.update(
                session, ctx, person.caller, sid, wireless_service.SimChange(status=status)
            )
        elif is_sid(sid, Prefix.THING):
            state = THING_STATES[_choice(form, "status", tuple(THING_STATES))]
            sim, _ = await things_service.update(
                session, ctx, person.caller, sid, things_service.ThingChange(state=state), None
            )
        else:
            status = _choice(form, "status", SUPERSIM_STATUSES)
            sim, _ = await sims_service.update(session, ctx, person.caller, sid, sims_service.SimUpdate(status=status))
        values: dict[str, Any] = {"status": sim.status, "pending": sim.pending_status}
    ctx.wake_workers()
    return render(request, "fragments/sim_status.html", person, **values)


# What "Activate" and "Deactivate" of a selection mean for each product.
SELECTION_STATUS = {
    "activate": {"supersim": "active", "wireless": "active", "things": "activate"},
    "deactivate": {"supersim": "inactive", "wireless": "suspended", "things": "suspend"},
}


@router.post("/sims/selection")
@act("sims:write")
async def change_selection(request: Request, person: Person, form: Form) -> Response:
    """Activate or deactivate the SIMs ticked in the list. Super SIMs and Wireless SIMs change through their own
    service, each on its own (one refused SIM does not stop the others); Things go to one bulk action of the
    Things surface, whose progress page follows it live."""
    op = _choice(form, "op", tuple(SELECTION_STATUS))
    chosen = list(dict.fromkeys(await form_values(request, "sim", limit=SELECTION_LIMIT + 1)))
    if not chosen:
        raise InvalidParameter("sim", "Tick at least one SIM")
    if len(chosen) > SELECTION_LIMIT:
        raise InvalidParameter("sim", f"At most {SELECTION_LIMIT} SIMs at a time (use a bulk action for more)")
    ctx = context(request)
    outcomes: list[tuple[str, str, str | None]] = []
    things = [sid for sid in chosen if is_sid(sid, Prefix.THING)]
    bulk_sid = None
    if things and not person.can("bulk:write"):
        return refused(request, person, "bulk:write")
    async with ctx.sessions() as session, session.begin():
        for sid in chosen:
            if sid in things:
                continue
            try:
                async with session.begin_nested():
                    if is_sid(sid, Prefix.WIRELESS_SIM):
                        change = wireless_service.SimChange(status=SELECTION_STATUS[op]["wireless"])
                        sim, _ = await wireless_service.update(session, ctx, person.caller, sid, change)
                    elif is_sid(sid, Prefix.SUPER_SIM):
                        update = sims_service.SimUpdate(status=SELECTION_STATUS[op]["supersim"])
                        sim, _ = await sims_service.update(session, ctx, person.caller, sid, update)
                    else:
                        raise InvalidParameter("sim", f"{sid} is not a SIM sid")
                    outcomes.append((sid, sim.pending_status or sim.status, None))
            except CellplaneError as error:
                outcomes.append((sid, "refused", str(error)))
        if things:
            bulk = await things_bulk.create(
                session, person.caller, SELECTION_STATUS[op]["things"], None, {"thingIds": things}
            )
            bulk_sid = bulk.sid
    ctx.wake_workers()
    return render(
        request,
        "fragments/selection_result.html",
        person,
        outcomes=outcomes,
        bulk_sid=bulk_sid,
        things=len(things),
        op=op,
    )


@router.post("/sims/{sid}/ip-commands")
@act("commands:write")
async def send_ip_command(request: Request, person: Person, form: Form, sid: str) -> Response:
    port = text(form.get("device_port"), 8)
    if not port.isdigit():
        raise InvalidParameter("device_port", "Device port must be a number from 1 to 65535")
    new = ip_commands.NewIpCommand(
        sim=sid,
        payload=str(form.get("payload") or ""),
        device_port=int(port),
        payload_type=_choice(form, "payload_type", tuple(ip_rules.PAYLOAD_TYPES)),
    )
    ip_commands.check(new)
    async with context(request).sessions() as session:
        await sims_service.fetch(session, person.caller, sid)  # a SIM of this account, or 404, before queueing
    command = await request.app.state.ip_command_outbox.submit(person.caller.account_sid, new)
    request.app.state.console.feed.watch_command(person.caller.account_sid, command.sim_sid, command.sid)
    return render(request, "fragments/command_row.html", person, command=command, kind="IP")


@router.post("/sims/{sid}/sms-commands")
@act("commands:write")
async def send_sms_command(request: Request, person: Person, form: Form, sid: str) -> Response:
    ctx = context(request)
    async with ctx.sessions() as session, session.begin():
        command = await sms_commands.create(
            session, ctx, person.caller, sms_commands.NewSmsCommand(sim=sid, payload=str(form.get("payload") or ""))
        )
    ctx.wake_workers()
    request.app.state.console.feed.watch_command(person.caller.account_sid, command.sim_sid, command.sid)
    return render(request, "fragments/command_row.html", person, command=command, kind="SMS")


@router.post("/webhooks/{sid}/retry")
@act("webhooks:write")
async def retry_webhook(request: Request, person: Person, form: Form, sid: str) -> Response:
    ctx = context(request)
    async with ctx.sessions() as session, session.begin():
        delivery = await webhook_deliveries.retry(session, person.caller, sid)
    ctx.wake_workers()
    return render(request, "fragments/delivery_status.html", person, delivery=delivery)


# --- the emulated network ----------------------------------------------------------------------------------


async def _lab_answer(request: Request, person: Person, error: str | None = None) -> Response:
    lab = request.app.state.console.lab
    async with context(request).sessions() as session:
        owned = await overview.owned_iccids(session, person.caller, [d.iccid for d in lab.devices()])
    devices = [device for device in lab.devices() if device.iccid in owned]
    return render(
        request, "fragments/lab_devices.html", person, devices=devices, error=error, http_status=400 if error else 200
    )


async def _lab_iccid(request: Request, person: Person, iccid: str) -> Any:
    lab = request.app.state.console.lab
    if lab is None:
        raise InvalidParameter("lab", "This platform runs no emulated network (CELLPLANE_EMULATOR_ENABLED)")
    if not iccid.isdigit() or not 18 <= len(iccid) <= 22:
        raise InvalidParameter("iccid", "ICCID must be 18 to 22 digits")
    async with context(request).sessions() as session:
        if iccid not in await overview.owned_iccids(session, person.caller, [iccid]):
            raise InvalidParameter("iccid", f"No SIM of this account has ICCID {iccid}")
    return lab


@router.post("/lab/devices")
@act("emulator:write")
async def lab_power_on(request: Request, person: Person, form: Form) -> Response:
    lab = await _lab_iccid(request, person, text(form.get("iccid"), 22))
    try:
        await lab.power_on(text(form.get("iccid"), 22), text(form.get("network"), 8))
    except LabError as error:
        return await _lab_answer(request, person, str(error))
    return await _lab_answer(request, person)


@router.post("/lab/devices/{iccid}/off")
@act("emulator:write")
async def lab_power_off(request: Request, person: Person, form: Form, iccid: str) -> Response:
    lab = await _lab_iccid(request, person, iccid)
    try:
        await lab.power_off(iccid)
    except LabError as error:
        return await _lab_answer(request, person, str(error))
    return await _lab_answer(request, person)


@router.post("/lab/devices/{iccid}/state")
@act("emulator:write")
async def lab_state(request: Request, person: Person, form: Form, iccid: str) -> Response:
    lab = await _lab_iccid(request, person, iccid)
    try:
        await lab.set_state(iccid, _choice(form, "state", ("attached", "idle", "edrx", "detached")))
    except LabError as error:
        return await _lab_answer(request, person, str(error))
    return await _lab_answer(request, person)


@router.post("/lab/devices/{iccid}/traffic")
@act("emulator:write")
async def lab_traffic(request: Request, person: Person, form: Form, iccid: str) -> Response:
    lab = await _lab_iccid(request, person, iccid)
    amounts = {}
    for name in ("up", "down"):
        value = text(form.get(name), 10) or "0"
        if not value.isdigit() or int(value) > 10_000_000:
            raise InvalidParameter(name, f"{name} must be a number of bytes up to 10000000")
        amounts[name] = int(value)
    try:
        await lab.traffic(iccid, amounts["up"], amounts["down"])
    except LabError as error:
        return await _lab_answer(request, person, str(error))
    return await _lab_answer(request, person)


# --- live updates ----------------------------------------------------------------------------------------


@router.get("/events")
@page("sims:read")
async def events(request: Request, person: Person) -> Response:
    """The page's event stream; with `sim`, that SIM's events, status and commands (checked visible first)."""
    sim = text(request.query_params.get("sim"), 40) or None
    if sim is not None:
        async with context(request).sessions() as session:
            await fetch_sim(session, person.caller, sim)
    bulk = text(request.query_params.get("bulk"), 40) or None
    if bulk is not None:
        if not person.can("bulk:read"):
            return refused(request, person, "bulk:read")
        async with context(request).sessions() as session:
            await things_bulk.fetch(session, person.caller, bulk)  # this account's, or 404
    since = text(request.query_params.get("since"), 40) or None
    if since is not None and not is_sid(since):
        raise InvalidParameter("since", "since must be an event position given by the page")
    subscription = Subscription(account_sid=person.caller.account_sid, sim_sid=sim, bulk_sid=bulk, since=since)
    # Commands the page showed still on their way: followed too (the feed only shows this account's).
    watched = text(request.query_params.get("watch"), 40 * 20).split(",")
    subscription.commands.update(sid for sid in watched if sim is not None and is_sid(sid))
    feed = request.app.state.console.feed
    return Streaming(
        feed.stream(subscription),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
