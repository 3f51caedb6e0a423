"""A Network's NAT rules: list, add, fetch, change, delete; `endpoint` is where each one listens."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from cellplane.api.things_v1.wire import body, caller, if_match, page_body, page_spec, resource, times
from cellplane.api.wire.db import reading, transaction
from cellplane.api.wire.guard import guarded
from cellplane.services import things_nat as service
from cellplane.services import things_networks as networks
from cellplane.store.models import NatRule

router = APIRouter(route_class=guarded("networks"))
FIELDS = ("protocol", "publicPort", "thingId", "privateIp", "privatePort")
_WIRE = {
    "protocol": "protocol",
    "publicPort": "public_port",
    "thingId": "thing_id",
    "privateIp": "private_ip",
    "privatePort": "private_port",
}


def render(rule: NatRule, public_address: str) -> dict[str, Any]:
    return {
        "id": rule.sid,
        "networkId": rule.network_sid,
        "protocol": rule.protocol,
        "publicPort": rule.public_port,
        "thingId": rule.thing_sid,
        "privateIp": rule.private_ip,
        "privatePort": rule.private_port,
        "endpoint": f"{public_address}:{rule.public_port}",
        **times(rule.date_created, rule.date_updated),
    }


def _change(values: dict[str, Any]) -> service.NatChange:
    change = service.NatChange()
    for wire, attribute in _WIRE.items():
        if wire in values:
            setattr(change, attribute, values[wire])
    return change


@router.get("/networks/{network_sid}/natRules")
async def list_rules(request: Request, network_sid: str) -> Response:
    who = await caller(request)
    spec = page_spec(request)
    async with reading(request) as session:
        network = await networks.network(session, who, network_sid)
        page = await service.rules(session, who, network_sid, spec)
    return page_body(page, [render(rule, network.public_address) for rule in page.items])


@router.post("/networks/{network_sid}/natRules")
async def create_rule(request: Request, network_sid: str) -> Response:
    who = await caller(request)
    change = _change(await body(request, FIELDS))
    async with transaction(request) as session:
        network = await networks.network(session, who, network_sid)
        rule = await service.create_rule(session, who, network_sid, change)
        content = render(rule, network.public_address)
    return resource(content, rule.sid, rule.date_updated, status=201)


@router.get("/networks/{network_sid}/natRules/{sid}")
async def fetch_rule(request: Request, network_sid: str, sid: str) -> Response:
    who = await caller(request)
    async with reading(request) as session:
        network = await networks.network(session, who, network_sid)
        rule = await service.rule(session, who, network_sid, sid)
    return resource(render(rule, network.public_address), rule.sid, rule.date_updated)


@router.patch("/networks/{network_sid}/natRules/{sid}")
async def update_rule(request: Request, network_sid: str, sid: str) -> Response:
    who = await caller(request)
    change = _change(await body(request, FIELDS))
    async with transaction(request) as session:
        network = await networks.network(session, who, network_sid)
        rule = await service.update_rule(session, who, network_sid, sid, change, if_match(request))
        content = render(rule, network.public_address)
    return resource(content, rule.sid, rule.date_updated)


@router.delete("/networks/{network_sid}/natRules/{sid}")
async def delete_rule(request: Request, network_sid: str, sid: str) -> Response:
    who = await caller(request)
    async with transaction(request) as session:
        await service.delete_rule(session, who, network_sid, sid, if_match(request))
    return Response(status_code=204)
