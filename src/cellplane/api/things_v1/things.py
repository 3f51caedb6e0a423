"""Things: list, fetch, change (state 202, services, locked IP, group) — wire in, service call, JSON out."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from cellplane.api.things_v1.wire import (
    body,
    boolean,
    caller,
    if_match,
    iso,
    page_body,
    page_spec,
    resource,
    text,
    times,
)
from cellplane.api.wire.db import context, reading, transaction
from cellplane.api.wire.guard import guarded
from cellplane.api.wire.render import json_response
from cellplane.domain import things as rules
from cellplane.domain import things_bulk as bulk_rules
from cellplane.domain.errors import InvalidParameter
from cellplane.services import things as service
from cellplane.store.models import DataSession, Sim

router = APIRouter(route_class=guarded("things"))
FIELDS = ("state", "services", "lockedIp", "thingsGroupId", "tags", "imeiLock")


def render(
    thing: Sim, live: DataSession | None, last: DataSession | None, tags: list[str] | None = None
) -> dict[str, Any]:
    return {
        "id": thing.sid,
        "iccid": thing.iccid,
        "imsi": thing.imsi,
        "state": rules.state_of(thing.status, thing.pending_status),
        # True while the network applies a state change (the change answered 202); `state` is where it is going.
        "statePending": thing.status == rules.IN_FLIGHT,
        "thingsGroupId": thing.things_group_sid,
        "tags": tags or [],
        "services": {"data": thing.services_data, "sms": thing.services_sms},
        "ipAddress": live.ue_ip if live is not None else None,
        "lockedIp": thing.locked_ip,
        "imei": thing.last_imei or (last.imei if last is not None else None),
        "imeiLock": thing.imei_lock,
        "lastSeen": None
        if last is None
        else {
            "network": f"{last.mcc}-{last.mnc}" if last.mcc and last.mnc else None,
            "cellId": last.cell_id,
            "radio": last.radio_link,
            "at": iso(last.last_updated),
        },
        "session": None
        if live is None
        else {"startedAt": iso(live.start), "bytesUp": live.bytes_up, "bytesDown": live.bytes_down},
        **times(thing.date_created, thing.date_updated),
    }


async def _render(session: Any, thing: Sim) -> dict[str, Any]:
    [content] = await _render_all(session, [thing])
    return content


async def _render_all(session: Any, things: list[Sim]) -> list[dict[str, Any]]:
    """The views of a page of Things: their sessions and tags read for the page at once, not per Thing."""
    seen = await service.sessions_seen(session, things)
    tags = await service.tags_of(session, things)
    views = []
    for thing in things:
        live, last = seen[thing.sid]
        views.append(render(thing, live, live or last, tags[thing.sid]))
    return views


def _change(values: dict[str, Any]) -> service.ThingChange:
    change = service.ThingChange(state=text(values, "state"), things_group_id=text(values, "thingsGroupId"))
    services = values.get("services")
    if services is not None:
        if not isinstance(services, dict):
            raise InvalidParameter("services", "services must be an object with data and/or sms")
        unknown = sorted(set(services) - {"data", "sms"})
        if unknown:
            raise InvalidParameter(f"services.{unknown[0]}", f"services.{unknown[0]} is not a service")
        change.services_data = boolean({"services.data": services.get("data")}, "services.data")
        change.services_sms = boolean({"services.sms": services.get("sms")}, "services.sms")
    if "lockedIp" in values:
        change.locked_ip = values["lockedIp"]
    if values.get("tags") is not None:
        change.tags = bulk_rules.check_tags(values["tags"])
    if "imeiLock" in values:
        change.imei_lock = values["imeiLock"]
    return change


@router.get("/things")
async def list_things(request: Request) -> Response:
    who = await caller(request)
    spec = page_spec(request)
    query = request.query_params
    async with reading(request) as session:
        page = await service.list_things(
            session,
            who,
            spec,
            state=query.get("state"),
            group=query.get("thingsGroupId"),
            iccid=query.get("iccid"),
            tag=query.get("tag"),
        )
        items = await _render_all(session, list(page.items))
    return page_body(page, items)


@router.get("/things/{key}")
async def fetch_thing(request: Request, key: str) -> Response:
    who = await caller(request)
    async with reading(request) as session:
        thing = await service.fetch(session, who, key)
        content = await _render(session, thing)
    return resource(content, thing.sid, thing.date_updated)


@router.patch("/things/{key}")
async def update_thing(request: Request, key: str) -> Response:
    who = await caller(request)
    change = _change(await body(request, FIELDS))
    async with transaction(request) as session:
        thing, pending = await service.update(session, context(request), who, key, change, if_match(request))
        content = await _render(session, thing)
    return resource(content, thing.sid, thing.date_updated, status=202 if pending else 200)


@router.get("/tags")
async def list_tags(request: Request) -> Response:
    """Every tag of the account's Things with how many Things carry it (one page: at most 20 tags a Thing)."""
    who = await caller(request)
    async with reading(request) as session:
        counts = await service.tag_counts(session, who)
    return json_response({"items": [{"tag": tag, "thingCount": count} for tag, count in counts], "nextPageToken": None})
