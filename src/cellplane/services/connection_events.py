"""Connection events of an account's SIMs: attaches accepted, rejected or failed, data sessions started and ended.

The network side (AAA, gateway) writes them; this is the read side: a newest-first list with filters,
and one event by sid. An event stays with the account that owned the SIM when it happened.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from cellplane.domain.caller import Caller
from cellplane.domain.errors import InvalidParameter, NotFound
from cellplane.domain.ids import Prefix, is_sid
from cellplane.domain.paging import Page, PageSpec
from cellplane.domain.policy import EventType
from cellplane.store.models import ConnectionEvent
from cellplane.store.repositories import connection_events as repo
from cellplane.store.repositories import fleets as fleet_repo
from cellplane.store.repositories import sims as sim_repo

# Events are written for every SIM the AAA sees: Super SIMs (HS...) and Programmable Wireless SIMs (DE...).
PRODUCTS = ("supersim", "wireless")
# The event types the network writes (domain.policy.EventType): the only values the EventType filter takes.
EVENT_TYPES = tuple(kind.value for kind in EventType)
_ICCID = re.compile(r"^\d{18,22}\Z")


@dataclass(frozen=True)
class EventRequest:
    """The query parameters of GET /ConnectionEvents, as given (None = not given)."""

    sim: str | None = None
    fleet: str | None = None
    event_type: str | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None


async def _sim_filter(session: AsyncSession, caller: Caller, key: str) -> repo.EventFilter:
    """A sid as given (a Super SIM's or a Wireless SIM's), a unique name of one of our SIMs of either product, else
    an ICCID (matched on the event itself)."""
    if is_sid(key, Prefix.SUPER_SIM) or is_sid(key, Prefix.WIRELESS_SIM):
        return repo.EventFilter(sim_sid=key)
    for product in PRODUCTS:  # a unique name is unique within the account, across both products
        sim = await sim_repo.find_visible(session, key, [caller.account_sid], product)
        if sim is not None:
            return repo.EventFilter(sim_sid=sim.sid)
    if _ICCID.match(key):
        # Events carry the ICCID, so this also finds events of a SIM that has since left the account.
        return repo.EventFilter(iccid=key)
    raise NotFound("Sim", key)


async def list_events(
    session: AsyncSession, caller: Caller, request: EventRequest, spec: PageSpec
) -> Page[ConnectionEvent]:
    if request.event_type is not None and request.event_type not in EVENT_TYPES:
        raise InvalidParameter("EventType", f"EventType must be one of {', '.join(EVENT_TYPES)}")
    if request.start_time is not None and request.end_time is not None and request.start_time >= request.end_time:
        raise InvalidParameter("StartTime", "StartTime must be before EndTime")
    where = repo.EventFilter()
    if request.sim is not None:
        where = await _sim_filter(session, caller, request.sim)
    fleet_sid = None
    if request.fleet is not None:
        if is_sid(request.fleet, Prefix.FLEET):
            fleet_sid = request.fleet
        else:
            fleet = await fleet_repo.find_fleet(session, caller.account_sid, request.fleet)
            if fleet is None:
                raise NotFound("Fleet", request.fleet)
            fleet_sid = fleet.sid
    where = replace(
        where,
        fleet_sid=fleet_sid,
        event_type=request.event_type,
        start=request.start_time,
        end=request.end_time,
    )
    return await repo.page(session, repo.list_query(caller.account_sid, where), spec)


async def fetch(session: AsyncSession, caller: Caller, sid: str) -> ConnectionEvent:
    event = await repo.find_visible(session, sid, caller.visible) if is_sid(sid) else None
    if event is None:
        raise NotFound("ConnectionEvent", sid)
    return event
