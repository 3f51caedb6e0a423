"""People's views of an account (the web console's reads): the dashboard's numbers, one search over every
product's SIMs, one SIM in depth, and the live feed's "what changed". Writes stay in the resources' own services.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Collection
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from cellplane.domain.caller import Caller
from cellplane.domain.errors import InvalidParameter
from cellplane.domain.ids import Prefix, is_sid
from cellplane.domain.paging import Page, PageSpec
from cellplane.services.retention import sid_floor
from cellplane.store.models import (
    ConnectionEvent,
    DataSession,
    Fleet,
    IpCommand,
    RatePlan,
    Sim,
    SmsCommand,
    WebhookDelivery,
    WirelessCommand,
)
from cellplane.store.repositories import overview as repo
from cellplane.store.repositories import sim_search

PRODUCTS = ("supersim", "wireless", "things")
STATUSES = ("new", "ready", "active", "inactive", "scheduled", "suspended", "deactivated", "canceled")
ATTACH_EVENTS = ("attach_accepted", "attach_rejected", "attach_failed")
WINDOW = timedelta(hours=24)
_ICCID = re.compile(r"^89\d{0,20}$")
_IMEI = re.compile(r"^\d{8,16}$")


@dataclass
class Dashboard:
    sims: dict[str, dict[str, int]]  # product -> status -> count
    usage: list[tuple[date, int, int]]  # day, bytes up, bytes down (current month)
    attaches: dict[str, int]
    ip_commands: dict[str, int]
    sms_commands: dict[str, int]
    failing_webhooks: list[WebhookDelivery]
    period_start: datetime

    @property
    def total_sims(self) -> int:
        return sum(sum(counts.values()) for counts in self.sims.values())

    @property
    def usage_bytes(self) -> int:
        return sum(up + down for _, up, down in self.usage)


async def dashboard(session: AsyncSession, caller: Caller, now: datetime) -> Dashboard:
    account = caller.account_sid
    sims: dict[str, dict[str, int]] = {}
    for product, status, count in await repo.sims_by_product_status(session, account):
        sims.setdefault(product, {})[status] = count
    start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    since = now - WINDOW
    events = await repo.count_by(
        session, ConnectionEvent, ConnectionEvent.event_type, account, sid_floor(Prefix.CONNECTION_EVENT, since)
    )
    return Dashboard(
        sims=sims,
        usage=[(_as_date(day), up, down) for day, up, down in await repo.usage_by_day(session, account, start)],
        attaches={name: events.get(name, 0) for name in ATTACH_EVENTS},
        ip_commands=await repo.count_by(
            session, IpCommand, IpCommand.status, account, sid_floor(Prefix.IP_COMMAND, since)
        ),
        sms_commands=await repo.count_by(
            session, SmsCommand, SmsCommand.status, account, sid_floor(Prefix.SMS_COMMAND, since)
        ),
        failing_webhooks=await repo.failing_webhooks(session, account),
        period_start=start,
    )


@dataclass(frozen=True)
class SimQuery:
    """The SIM list's search box and filters, as given by a person."""

    text: str = ""
    product: str | None = None
    status: str | None = None
    fleet: str | None = None
    rate_plan: str | None = None


@dataclass
class SimRow:
    sim: Sim
    group_name: str | None  # the fleet's (Super SIM) or rate plan's (Wireless) unique name

    @property
    def group_sid(self) -> str | None:
        return self.sim.fleet_sid if self.sim.product == "supersim" else self.sim.rate_plan_sid


async def search_sims(session: AsyncSession, caller: Caller, query: SimQuery, spec: PageSpec) -> Page[SimRow]:
    """Find SIMs of every product by ICCID (prefix), unique name (prefix), IP address or IMEI; sid lookups too."""
    if query.product is not None and query.product not in PRODUCTS:
        raise InvalidParameter("product", f"product must be one of {', '.join(PRODUCTS)}")
    if query.status is not None and query.status not in STATUSES:
        raise InvalidParameter("status", f"status must be one of {', '.join(STATUSES)}")
    for name, value, prefix in (("fleet", query.fleet, Prefix.FLEET), ("rate_plan", query.rate_plan, Prefix.RATE_PLAN)):
        if value is not None and not is_sid(value, prefix):
            raise InvalidParameter(name, f"{name} must be a {prefix} sid")
    search = sim_search.SimSearch(
        product=query.product, status=query.status, fleet_sid=query.fleet, rate_plan_sid=query.rate_plan
    )
    text = query.text.strip()
    if text:
        search = await _text_search(session, caller.account_sid, search, text)
    if search.name is not None:
        page = await _name_search(session, caller.account_sid, search, spec)
    else:
        page = await sim_search.search_sims(session, caller.account_sid, search, spec)
    fleets = await repo.names(session, Fleet, {s.fleet_sid for s in page.items if s.fleet_sid})
    plans = await repo.names(session, RatePlan, {s.rate_plan_sid for s in page.items if s.rate_plan_sid})
    rows = [SimRow(sim, fleets.get(sim.fleet_sid or "") or plans.get(sim.rate_plan_sid or "")) for sim in page.items]
    return Page(
        items=rows,
        has_next=page.has_next,
        has_previous=page.has_previous,
        first_key=page.first_key,
        last_key=page.last_key,
    )


async def _text_search(
    session: AsyncSession, account: str, search: sim_search.SimSearch, text: str
) -> sim_search.SimSearch:
    """What the text names: an ICCID (89...), an IP address, an IMEI, a sid, else a unique name."""
    if any(is_sid(text, prefix) for prefix in (Prefix.SUPER_SIM, Prefix.WIRELESS_SIM, Prefix.THING)):
        return _with(search, sim_sids=[text])
    if _ICCID.match(text) and len(text) >= 4:
        # A whole ICCID by the unique index; the start of one as a range of it.
        return _with(search, iccid=text) if len(text) >= 18 else _with(search, iccid_prefix=text)
    if _is_ip(text):
        return _with(search, sim_sids=await repo.sims_with_ip(session, account, text))
    if _IMEI.match(text):
        return _with(search, sim_sids=await repo.sims_with_imei(session, account, text))
    if len(text) > 64:
        raise InvalidParameter("q", "a search is at most 64 characters")
    return _with(search, name=text)


async def _name_search(session: AsyncSession, account: str, search: sim_search.SimSearch, spec: PageSpec) -> Page[Sim]:
    """A unique name exactly (one index probe); when none has it, the names that start with it."""
    exact = await sim_search.search_sims(session, account, search, spec)
    if exact.items:
        return exact  # one SIM at most: no page follows, so a later page is always the prefix search's
    return await sim_search.search_sims(session, account, _with(search, name=None, name_prefix=search.name), spec)


def _with(search: sim_search.SimSearch, **changes: Any) -> sim_search.SimSearch:
    return replace(search, **changes)


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


@dataclass
class SimDetail:
    sim: Sim
    group_name: str | None
    usage: list[tuple[date, int, int]]
    sessions: list[DataSession]
    events: list[ConnectionEvent]
    commands: list[Any]  # IP and SMS commands (Wireless Commands for Wireless), newest first
    imeis: list[tuple[str, datetime]]
    ip_address: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


async def sim_detail(session: AsyncSession, sim: Sim, now: datetime, days: int = 30) -> SimDetail:
    """One SIM in depth (the SIM was fetched through its product's service, which checked the caller)."""
    since = (now - timedelta(days=days - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    assert sim.account_sid is not None
    usage = [
        (_as_date(d), up, down) for d, up, down in await repo.usage_by_day(session, sim.account_sid, since, sim.sid)
    ]
    if sim.product == "supersim":
        group = (await repo.names(session, Fleet, [sim.fleet_sid] if sim.fleet_sid else [])).get(sim.fleet_sid or "")
        commands = [
            *await repo.recent_commands(session, IpCommand, sim.sid),
            *await repo.recent_commands(session, SmsCommand, sim.sid),
        ]
    else:
        plan_sids = [sim.rate_plan_sid] if sim.rate_plan_sid else []
        group = (await repo.names(session, RatePlan, plan_sids)).get(sim.rate_plan_sid or "")
        commands = await repo.recent_commands(session, WirelessCommand, sim.sid)
    commands.sort(key=lambda command: command.date_created, reverse=True)
    sessions = await repo.recent_sessions(session, sim.sid)
    open_ip = next((s.ue_ip for s in sessions if s.status == "open"), None)
    return SimDetail(
        sim=sim,
        group_name=group,
        usage=_fill_days(usage, since.date(), now.date()),
        sessions=sessions,
        events=await repo.recent_events(session, sim.sid),
        commands=commands[:15],
        imeis=await repo.imei_history(session, sim.sid),
        ip_address=open_ip,
    )


def _fill_days(usage: list[tuple[date, int, int]], first: date, last: date) -> list[tuple[date, int, int]]:
    """Every day of the window, zero where nothing was used (a chart wants its gaps)."""
    known = {day: (up, down) for day, up, down in usage}
    days = []
    day = first
    while day <= last:
        up, down = known.get(day, (0, 0))
        days.append((day, up, down))
        day += timedelta(days=1)
    return days


def _as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


async def fleets(session: AsyncSession, caller: Caller) -> list[Fleet]:
    return await repo.all_fleets(session, caller.account_sid)


async def rate_plans(session: AsyncSession, caller: Caller) -> list[RatePlan]:
    return await repo.all_rate_plans(session, caller.account_sid)


# --- the live feed ------------------------------------------------------------------------------------------


@dataclass
class Changes:
    events: list[ConnectionEvent]
    sims: dict[str, tuple[str, str | None]]
    commands: dict[str, tuple[str, str | None]]
    cursor: str


async def event_cursor(session: AsyncSession) -> str:
    return await repo.last_event_sid(session)


async def changes(
    session: AsyncSession, cursor: str, sim_sids: Collection[str], command_sids: Collection[str]
) -> Changes:
    """Connection events after `cursor`, and the present state of the SIMs and commands someone is watching.
    Callers filter by account before showing anything."""
    events = await repo.events_after(session, cursor)
    return Changes(
        events=events,
        sims=await repo.sim_states(session, sim_sids),
        commands=await repo.command_states(session, command_sids),
        cursor=events[-1].sid if events else cursor,
    )


async def owned_iccids(session: AsyncSession, caller: Caller, iccids: Collection[str]) -> set[str]:
    """Which of these ICCIDs are SIMs of the caller's account or subaccounts (the lab drives only those)."""
    found = await repo.owners_of(session, iccids)
    return {iccid for iccid, account in found.items() if caller.can_see(account)}


def event_cursor_at(moment: datetime) -> str:
    """A position in the connection events: everything made from `moment` on comes after it."""
    return sid_floor(Prefix.CONNECTION_EVENT, moment)


async def catch_up(session: AsyncSession, account_sid: str, sim_sid: str | None, after: str) -> list[ConnectionEvent]:
    """What a page missed between its render and its stream's start (the account's own events only)."""
    events = await repo.account_events_after(session, account_sid, sim_sid, after)
    return [event for event in events if event.account_sid == account_sid]
