"""The console's private-network pages (THINGS.md): bulk actions with their live progress, networks (pools with
their usage, device isolation, routes, NAT rules) and the firewall rule editor of IP Profiles. Each calls the same
service as /things/v1, with the person's caller; the role is checked on the server (console/web.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from cellplane.console.live import FAILED_SHOWN
from cellplane.console.web import Form, Person, context, page, render, text
from cellplane.console.web import action as act
from cellplane.domain import things_bulk as bulk_rules
from cellplane.domain import things_config as config
from cellplane.domain.errors import InvalidParameter
from cellplane.domain.ids import Prefix, is_sid
from cellplane.domain.paging import PageSpec
from cellplane.domain.things import etag
from cellplane.services import things_bulk, things_nat, things_networks, things_profiles
from cellplane.store.models import IpProfile

router = APIRouter()
PAGE_SIZE = 50
DIRECTIONS = ("inbound", "outbound")
# What the start form offers (every action of THINGS.md) and which parameter each needs.
BULK_ACTIONS = bulk_rules.ACTIONS
Change = Callable[[AsyncSession], Awaitable[str]]  # a change in a transaction, saying what it did


# --- bulk actions ---------------------------------------------------------------------------------------------


async def _groups(request: Request, person: Person) -> list[Any]:
    async with context(request).sessions() as session, session.begin():  # the default group is made on first use
        return (await things_profiles.list_groups(session, person.caller, PageSpec(size=200))).items


@router.get("/bulk-actions")
@page("bulk:read")
async def bulk_list(request: Request, person: Person) -> Response:
    after = text(request.query_params.get("after"), 40) or None
    if after is not None and not is_sid(after, Prefix.BULK_ACTION):
        raise InvalidParameter("after", "after must be a bulk action sid from a previous page")
    async with context(request).sessions() as session:
        found = await things_bulk.list_actions(session, person.caller, PageSpec(size=PAGE_SIZE, after=after))
    groups = await _groups(request, person) if person.can("bulk:write") else []
    return render(request, "bulk_actions.html", person, page=found, groups=groups, actions=BULK_ACTIONS)


def _bulk_request(form: Form) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """The form as the service's (action, parameters, selection); the service checks every value."""
    name = text(form.get("action"), 16)
    parameters: dict[str, Any] = {}
    if name == "moveToGroup":
        parameters["thingsGroupId"] = text(form.get("group"), 40)
    elif name in ("addTags", "removeTags"):
        parameters["tags"] = [tag for tag in text(form.get("tags"), 1400).replace(",", " ").split() if tag]
    elif name == "setServices":
        parameters["services"] = {"data": form.get("data") == "on", "sms": form.get("sms") == "on"}
    kind = text(form.get("selection"), 16)
    selection: dict[str, Any]
    if kind == "tag":
        selection = {"tag": text(form.get("tag"), 64)}
    elif kind == "thingsGroupId":
        selection = {"thingsGroupId": text(form.get("selection_group"), 40)}
    elif kind == "thingIds":
        selection = {"thingIds": [key for key in str(form.get("things") or "").replace(",", " ").split() if key]}
    else:
        raise InvalidParameter("selection", "selection must be tag, thingsGroupId or thingIds")
    return name, parameters, selection


@router.post("/bulk-actions")
@act("bulk:write")
async def start_bulk(request: Request, person: Person, form: Form) -> Response:
    name, parameters, selection = _bulk_request(form)
    ctx = context(request)
    async with ctx.sessions() as session, session.begin():
        bulk = await things_bulk.create(session, person.caller, name, parameters, selection)
        sid = bulk.sid
    ctx.wake_workers()
    target = f"/console/bulk-actions/{sid}"
    if request.headers.get("hx-request"):
        return Response(status_code=204, headers={"HX-Redirect": target})  # a full load: the new page's stream
    return Response(status_code=303, headers={"Location": target})


@router.get("/bulk-actions/{sid}")
@page("bulk:read")
async def bulk_page(request: Request, person: Person, sid: str) -> Response:
    async with context(request).sessions() as session:
        bulk = await things_bulk.fetch(session, person.caller, sid)
        failed, more = await things_bulk.items(session, person.caller, sid, FAILED_SHOWN, None, bulk_rules.FAILED)
    return render(request, "bulk_action.html", person, bulk=bulk, failed=failed, more_failed=more)


@router.post("/bulk-actions/{sid}/cancel")
@act("bulk:write")
async def cancel_bulk(request: Request, person: Person, form: Form, sid: str) -> Response:
    ctx = context(request)
    async with ctx.sessions() as session, session.begin():
        bulk = await things_bulk.cancel(session, person.caller, sid)
        html = render(request, "fragments/bulk_progress.html", person, bulk=bulk)
    ctx.wake_workers()
    return html


# --- networks: pools, isolation, routes, NAT rules -------------------------------------------------------------


@router.get("/networks")
@page("networks:read")
async def networks_page(request: Request, person: Person) -> Response:
    async with context(request).sessions() as session, session.begin():  # the default network is made on first use
        networks = (await things_networks.list_networks(session, person.caller, PageSpec(size=200))).items
        pools = {n.sid: await things_networks.pools_of_network(session, n.sid) for n in networks}
        usage = {n.sid: await things_networks.pool_usage(session, n.sid, pools[n.sid]) for n in networks}
    return render(request, "networks.html", person, networks=networks, pools=pools, usage=usage)


async def _network_values(request: Request, person: Person, sid: str) -> dict[str, Any]:
    async with context(request).sessions() as session:
        network = await things_networks.network(session, person.caller, sid)
        pools = await things_networks.pools_of_network(session, sid)
        usage = await things_networks.pool_usage(session, sid, pools)
        routes = (await things_networks.routes(session, person.caller, sid, PageSpec(size=200))).items
        nat = (await things_nat.rules(session, person.caller, sid, PageSpec(size=200))).items
    versions = {p.sid: etag(p.sid, p.date_updated) for p in pools}  # a pool's form refuses a stale edit
    return {
        "network": network,
        "pools": pools,
        "usage": usage,
        "versions": versions,
        "routes": routes,
        "nat_rules": nat,
    }


@router.get("/networks/{sid}")
@page("networks:read")
async def network_page(request: Request, person: Person, sid: str) -> Response:
    values = await _network_values(request, person, sid)
    return render(request, "network.html", person, protocols=config.NAT_PROTOCOLS, **values)


async def _network_answer(
    request: Request, person: Person, sid: str, part: str, http_status: int = 200, **extra: Any
) -> Response:
    """After a change (or a refused one): the part of the network's page, re-read as it was committed."""
    context(request).wake_workers()
    values = await _network_values(request, person, sid)
    return render(
        request,
        f"fragments/network_{part}.html",
        person,
        http_status=http_status,
        protocols=config.NAT_PROTOCOLS,
        **values,
        **extra,
    )


@router.post("/networks/{sid}/isolation")
@act("networks:write")
async def set_isolation(request: Request, person: Person, form: Form, sid: str) -> Response:
    wanted = text(form.get("device_isolation"), 8)
    if wanted not in ("on", "off"):
        raise InvalidParameter("device_isolation", "device_isolation must be on or off")
    change = things_networks.NetworkChange(device_isolation=wanted == "on")
    async with context(request).sessions() as session, session.begin():
        await things_networks.update_network(session, person.caller, sid, change, None)
    return await _network_answer(request, person, sid, "isolation")


@router.post("/networks/{sid}/routes")
@act("networks:write")
async def add_route(request: Request, person: Person, form: Form, sid: str) -> Response:
    async with context(request).sessions() as session, session.begin():
        await things_networks.create_route(
            session, person.caller, sid, text(form.get("destination"), 20), config.ROUTE_UPLINK
        )
    return await _network_answer(request, person, sid, "routes")


@router.post("/networks/{sid}/routes/{route_sid}/delete")
@act("networks:write")
async def delete_route(request: Request, person: Person, form: Form, sid: str, route_sid: str) -> Response:
    async with context(request).sessions() as session, session.begin():
        await things_networks.delete_route(session, person.caller, sid, route_sid, None)
    return await _network_answer(request, person, sid, "routes")


async def _pool_change(request: Request, person: Person, sid: str, typed: dict[str, str], change: Change) -> Response:
    """A pool added, resized or removed through the same service functions as /things/v1/networks/{id}/ipPools (the
    same checks: CIDR form and size, overlap, no locked or leased address left outside). A refused change comes back
    as the pools' card with the service's message, naming the field, beside what was typed (400)."""
    try:
        async with context(request).sessions() as session, session.begin():
            said = await change(session)
    except InvalidParameter as error:
        problem = f"{error.message} ({error.parameter})"
        return await _network_answer(request, person, sid, "pools", 400, problem=problem, typed=typed)
    return await _network_answer(request, person, sid, "pools", said=said)


@router.post("/networks/{sid}/pools")
@act("networks:write")
async def add_pool(request: Request, person: Person, form: Form, sid: str) -> Response:
    cidr = text(form.get("cidr"), 20)

    async def change(session: AsyncSession) -> str:
        created = await things_networks.create_pool(session, person.caller, sid, cidr)
        return f"Pool {created.cidr} added"

    return await _pool_change(request, person, sid, {"new": cidr}, change)


@router.post("/networks/{sid}/pools/{pool_sid}")
@act("networks:write")
async def resize_pool(request: Request, person: Person, form: Form, sid: str, pool_sid: str) -> Response:
    cidr = text(form.get("cidr"), 20)

    async def change(session: AsyncSession) -> str:
        version = text(form.get("version"), 64) or None
        resized = await things_networks.resize_pool(session, person.caller, sid, pool_sid, cidr, version)
        return f"Pool resized to {resized.cidr}"

    return await _pool_change(request, person, sid, {pool_sid: cidr}, change)


@router.post("/networks/{sid}/pools/{pool_sid}/delete")
@act("networks:write")
async def delete_pool(request: Request, person: Person, form: Form, sid: str, pool_sid: str) -> Response:
    async def change(session: AsyncSession) -> str:
        pool = await things_networks.pool(session, person.caller, sid, pool_sid)
        cidr = pool.cidr
        await things_networks.delete_pool(session, person.caller, sid, pool_sid, text(form.get("version"), 64) or None)
        return f"Pool {cidr} removed"

    return await _pool_change(request, person, sid, {}, change)


def _port(form: Form, name: str) -> Any:
    value = text(form.get(name), 8)
    return int(value) if value.isdigit() else value  # the service names a wrong one (`publicPort` ...)


@router.post("/networks/{sid}/nat-rules")
@act("networks:write")
async def add_nat_rule(request: Request, person: Person, form: Form, sid: str) -> Response:
    target = text(form.get("target"), 40)
    change = things_nat.NatChange(
        protocol=text(form.get("protocol"), 4),
        public_port=_port(form, "public_port"),
        private_port=_port(form, "private_port"),
    )
    if is_sid(target, Prefix.THING) or target.isdigit():
        change.thing_id = target
    else:
        change.private_ip = target
    async with context(request).sessions() as session, session.begin():
        await things_nat.create_rule(session, person.caller, sid, change)
    return await _network_answer(request, person, sid, "nat")


@router.post("/networks/{sid}/nat-rules/{rule_sid}/delete")
@act("networks:write")
async def delete_nat_rule(request: Request, person: Person, form: Form, sid: str, rule_sid: str) -> Response:
    async with context(request).sessions() as session, session.begin():
        await things_nat.delete_rule(session, person.caller, sid, rule_sid, None)
    return await _network_answer(request, person, sid, "nat")


# --- IP Profiles: the firewall rule editor ---------------------------------------------------------------------


@router.get("/ip-profiles")
@page("networks:read")
async def profiles_page(request: Request, person: Person) -> Response:
    async with context(request).sessions() as session, session.begin():
        profiles = (await things_profiles.list_profiles(session, person.caller, PageSpec(size=200))).items
    return render(request, "ip_profiles.html", person, profiles=profiles)


@router.post("/ip-profiles")
@act("networks:write")
async def create_profile(request: Request, person: Person, form: Form) -> Response:
    change = things_profiles.ProfileChange(name=text(form.get("name"), 64))
    async with context(request).sessions() as session, session.begin():
        created = await things_profiles.create_profile(session, person.caller, change)
        sid = created.sid
    target = f"/console/ip-profiles/{sid}"
    if request.headers.get("hx-request"):
        return Response(status_code=204, headers={"HX-Redirect": target})  # a full load: the new page's stream
    return Response(status_code=303, headers={"Location": target})


def _editor(request: Request, person: Person, profile: IpProfile, saved: str | None = None) -> Response:
    return render(
        request,
        "fragments/firewall.html",
        person,
        profile=profile,
        version=etag(profile.sid, profile.date_updated),
        saved=saved,
        actions=config.ACTIONS,
        protocols=config.RULE_PROTOCOLS,
    )


@router.get("/ip-profiles/{sid}")
@page("networks:read")
async def profile_page(request: Request, person: Person, sid: str) -> Response:
    async with context(request).sessions() as session, session.begin():
        profile = await things_profiles.profile(session, person.caller, sid)
    return render(
        request,
        "ip_profile.html",
        person,
        profile=profile,
        version=etag(profile.sid, profile.date_updated),
        saved=None,
        actions=config.ACTIONS,
        protocols=config.RULE_PROTOCOLS,
    )


def _rule_from(form: Form) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "action": text(form.get("action"), 8),
        "protocol": text(form.get("protocol"), 8) or "any",
        "remoteCidr": text(form.get("remote_cidr"), 20) or "0.0.0.0/0",
    }
    ports = text(form.get("remote_ports"), 16)
    if ports:
        rule["remotePorts"] = ports
    return rule


def _position(form: Form, rules: list[Any]) -> int:
    """Which rule the form edits (its place in the list it was made from)."""
    value = text(form.get("index"), 4)
    if not rules:
        raise InvalidParameter("index", "There is no rule to change")
    if not value.isdigit() or int(value) >= len(rules):
        raise InvalidParameter("index", f"index must be a rule position from 0 to {len(rules) - 1}")
    return int(value)


@router.post("/ip-profiles/{sid}/rules")
@act("networks:write")
async def change_rules(request: Request, person: Person, form: Form, sid: str) -> Response:
    """One edit of the rule list (`op`: save, add, delete, up, down; or `default`): the whole list is replaced
    through the service, which checks every rule. The form carries the version it was made from, so an edit
    made on a page another person changed meanwhile is refused rather than lost."""
    direction = text(form.get("direction"), 8)
    op = text(form.get("op"), 8)
    async with context(request).sessions() as session, session.begin():
        profile = await things_profiles.profile(session, person.caller, sid)
        change = things_profiles.ProfileChange()
        if op == "default":
            change.default_action = text(form.get("default_action"), 8)
            said = "Default action saved"
        else:
            if direction not in DIRECTIONS:
                raise InvalidParameter("direction", "direction must be inbound or outbound")
            rules = list(getattr(profile, direction) or [])
            if op == "add":
                rules.append(_rule_from(form))
                said = f"{direction.capitalize()} rule {len(rules)} added"
            elif op in ("save", "delete", "up", "down"):
                index = _position(form, rules)
                said = f"{direction.capitalize()} rule {index + 1} " + {"save": "saved", "delete": "deleted"}.get(
                    op, "moved"
                )
                if op == "save":
                    rules[index] = _rule_from(form)
                elif op == "delete":
                    rules.pop(index)
                else:
                    other = index - 1 if op == "up" else index + 1
                    if 0 <= other < len(rules):
                        rules[index], rules[other] = rules[other], rules[index]
            else:
                raise InvalidParameter("op", "op must be save, add, delete, up, down or default")
            setattr(change, direction, rules)
        profile = await things_profiles.update_profile(
            session, person.caller, sid, change, text(form.get("version"), 64) or None
        )
        answer = _editor(request, person, profile, said)
    context(request).wake_workers()
    return answer
