"""The console's pages (GET): each reads through the services, with the person's caller, and renders a template.
A page asked by htmx (`HX-Request`) for a part of itself gets only that part."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from cellplane.console.charts import daily_bars
from cellplane.console.web import Person, context, environment, now, page, render, text
from cellplane.domain.caller import Caller
from cellplane.domain.errors import InvalidParameter
from cellplane.domain.ids import Prefix, is_sid
from cellplane.domain.paging import PageSpec
from cellplane.services import network_access_profiles, overview, webhook_deliveries
from cellplane.services import sims as sims_service
from cellplane.services import things as things_service
from cellplane.services import wireless_sims as wireless_service
from cellplane.store.models import Sim

router = APIRouter()
PAGE_SIZE = 50
_FILESIZE = environment.filters["filesize"]


@router.get("")
@page("sims:read")
async def dashboard(request: Request, person: Person) -> Response:

    async def count() -> overview.Dashboard:
        async with context(request).sessions() as session:
            return await overview.dashboard(session, person.caller, now(request))

    board, age = await request.app.state.console.dashboards.get(person.caller.account_sid, count)
    chart = daily_bars(board.usage, _FILESIZE) if board.usage else None
    return render(request, "dashboard.html", person, board=board, chart=chart, age=age)


@router.get("/sims")
@page("sims:read")
async def sim_list(request: Request, person: Person) -> Response:
    params = request.query_params
    query = overview.SimQuery(
        text=text(params.get("q"), 80),
        product=text(params.get("product")) or None,
        status=text(params.get("status")) or None,
        fleet=text(params.get("fleet")) or None,
        rate_plan=text(params.get("rate_plan")) or None,
    )
    after, before = text(params.get("after"), 40) or None, text(params.get("before"), 40) or None
    for name, value in (("after", after), ("before", before)):
        if value is not None and not any(
            is_sid(value, p) for p in (Prefix.SUPER_SIM, Prefix.WIRELESS_SIM, Prefix.THING)
        ):
            raise InvalidParameter(name, f"{name} must be a SIM sid from a previous page")
    spec = PageSpec(size=PAGE_SIZE, after=after, before=before)
    async with context(request).sessions() as session:
        found = await overview.search_sims(session, person.caller, query, spec)
        fleets = await overview.fleets(session, person.caller)
        plans = await overview.rate_plans(session, person.caller)
    values: dict[str, Any] = {
        "page": found,
        "query": query,
        "fleets": fleets,
        "plans": plans,
        "statuses": overview.STATUSES,
        "products": overview.PRODUCTS,
    }
    if request.headers.get("hx-request") and request.headers.get("hx-target") == "sim-results":
        return render(request, "fragments/sim_results.html", person, **values)
    return render(request, "sims.html", person, **values)


async def fetch_sim(session: AsyncSession, caller: Caller, sid: str) -> Sim:
    """A SIM of any product through its own service, which checks the caller may see it (404 otherwise)."""
    if is_sid(sid, Prefix.WIRELESS_SIM):
        return await wireless_service.fetch(session, caller, sid)
    if is_sid(sid, Prefix.THING):
        return await things_service.fetch(session, caller, sid)
    return await sims_service.fetch(session, caller, sid)


async def load_sim(request: Request, person: Person, sid: str) -> overview.SimDetail:
    """A SIM of any product, in depth."""
    async with context(request).sessions() as session:
        sim = await fetch_sim(session, person.caller, sid)
        return await overview.sim_detail(session, sim, now(request))


@router.get("/sims/{sid}")
@page("sims:read")
async def sim_page(request: Request, person: Person, sid: str) -> Response:
    since = overview.event_cursor_at(now(request))  # before reading: an event made meanwhile comes by the stream
    detail = await load_sim(request, person, sid)
    chart = daily_bars(detail.usage, _FILESIZE)
    return render(request, "sim.html", person, detail=detail, sim=detail.sim, chart=chart, since=since)


@router.get("/fleets")
@page("fleets:read")
async def fleets_page(request: Request, person: Person) -> Response:
    async with context(request).sessions() as session:
        fleets = await overview.fleets(session, person.caller)
        profiles = (await network_access_profiles.list_profiles(session, person.caller, PageSpec(size=200))).items
        allowed = {}
        for profile in profiles:
            _, networks = await network_access_profiles.list_networks(
                session, person.caller, profile.sid, PageSpec(size=50)
            )
            allowed[profile.sid] = networks.items
    names = {profile.sid: profile.unique_name for profile in profiles}
    return render(request, "fleets.html", person, fleets=fleets, profiles=profiles, allowed=allowed, names=names)


@router.get("/rate-plans")
@page("fleets:read")  # rate plans are guarded as fleets, as on the API
async def rate_plans_page(request: Request, person: Person) -> Response:
    async with context(request).sessions() as session:
        plans = await overview.rate_plans(session, person.caller)
    return render(request, "rate_plans.html", person, plans=plans)


@router.get("/webhooks")
@page("webhooks:read")
async def webhooks_page(request: Request, person: Person) -> Response:
    status = text(request.query_params.get("status")) or None
    if status is not None and status not in webhook_deliveries.STATUSES:
        raise InvalidParameter("status", f"status must be one of {', '.join(webhook_deliveries.STATUSES)}")
    after = text(request.query_params.get("after"), 40) or None
    if after is not None and not is_sid(after, Prefix.WEBHOOK_DELIVERY):
        raise InvalidParameter("after", "after must be a delivery sid from a previous page")
    spec = PageSpec(size=PAGE_SIZE, after=after)
    async with context(request).sessions() as session:
        found = await webhook_deliveries.list_deliveries(
            session, person.caller, webhook_deliveries.DeliveryQuery(status=status), spec
        )
    return render(request, "webhooks.html", person, page=found, status=status, statuses=webhook_deliveries.STATUSES)


@router.get("/webhooks/{sid}")
@page("webhooks:read")
async def webhook_page(request: Request, person: Person, sid: str) -> Response:
    async with context(request).sessions() as session:
        delivery, attempts = await webhook_deliveries.fetch(session, person.caller, sid)
    return render(request, "webhook.html", person, delivery=delivery, attempts=attempts)


@router.get("/lab")
@page("emulator:read")
async def lab_page(request: Request, person: Person) -> Response:
    lab = request.app.state.console.lab
    devices = []
    if lab is not None:
        async with context(request).sessions() as session:
            owned = await overview.owned_iccids(session, person.caller, [d.iccid for d in lab.devices()])
        devices = [device for device in lab.devices() if device.iccid in owned]
    return render(
        request,
        "lab.html",
        person,
        lab=lab,
        devices=devices,
        networks=lab.networks() if lab else [],
    )
