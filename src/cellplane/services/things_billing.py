"""Things' price plans and billing reports (issue 18), rated by the one engine (domain/rating.py).

A report's lines are one per Thing of the scope (the account, one Things Group, or one Thing), each rated on its
own: its data and SMS of the account's usage in the cycle, and its monthly fee from its state history. A Things
Group's report holds the Things in the group now (a Thing moved mid-cycle is billed where it is at report time).
The state history is written by `record_state_changes`, in the transaction that completes each change.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from cellplane.domain import rating
from cellplane.domain.caller import Caller
from cellplane.domain.errors import InvalidParameter
from cellplane.domain.ids import Prefix, new_sid
from cellplane.domain.things import PRODUCT
from cellplane.store.models import PricePlan, ReportDownload, Sim, ThingsGroup
from cellplane.store.models.base import utcnow
from cellplane.store.repositories import rating as repo
from cellplane.store.repositories import things as things_repo

SCOPES = ("account", "thing", "thingsGroup")
NEVER_ACTIVATED = "new"


@dataclass(frozen=True)
class Report:
    cycle: rating.Cycle
    scope: str
    scope_id: str
    plan: rating.PricePlan
    lines: list[rating.Line]

    @property
    def total(self) -> Decimal:
        return rating.total(self.lines)


async def record_state_changes(session: AsyncSession, sims: Sequence[Sim], at: datetime) -> None:
    """Things' statuses were set to their `status` at `at`: remember them for the monthly-fee rule (other products'
    SIMs are skipped)."""
    await repo.record_changes(session, [sim for sim in sims if sim.product == PRODUCT], at)


def _plan(row: PricePlan | None) -> rating.PricePlan:
    if row is None:
        return rating.DEFAULT_PLAN
    return rating.PricePlan(row.currency, Decimal(row.monthly_fee), Decimal(row.per_mb), Decimal(row.per_sms))


async def price_plan(session: AsyncSession, caller: Caller) -> tuple[rating.PricePlan, datetime | None]:
    """The account's plan (the platform default until it sets one) and when it was last set."""
    row = await repo.price_plan(session, caller.account_sid)
    return _plan(row), row.date_updated if row is not None else None


async def set_price_plan(session: AsyncSession, caller: Caller, plan: rating.PricePlan) -> datetime:
    row = await repo.price_plan(session, caller.account_sid)
    if row is None:
        row = PricePlan(account_sid=caller.account_sid)
        session.add(row)
    row.currency = plan.currency
    row.monthly_fee = str(plan.monthly_fee)
    row.per_mb = str(plan.per_mb)
    row.per_sms = str(plan.per_sms)
    row.date_updated = utcnow()
    await session.flush()
    return row.date_updated


async def report(
    session: AsyncSession, caller: Caller, cycle_text: str | None, scope: str | None, scope_id: str | None
) -> Report:
    cycle = rating.parse_cycle(cycle_text)
    scope = scope or "account"
    if scope not in SCOPES:
        raise InvalidParameter("scope", f"scope must be one of {', '.join(SCOPES)}")
    account = caller.account_sid
    group_sid = thing_sid = None
    if scope == "account":
        if scope_id not in (None, "", account):
            raise InvalidParameter("id", "id of an account scope must be the account's own sid (or left out)")
        scope_id = account
    elif not scope_id:
        raise InvalidParameter("id", f"id is required for scope {scope}")
    elif scope == "thing":
        thing = await things_repo.find_thing(session, account, scope_id)
        if thing is None:
            raise InvalidParameter("id", f"Thing {scope_id} was not found")
        thing_sid = scope_id = thing.sid
    else:
        if await things_repo.owned(session, ThingsGroup, account, scope_id) is None:
            raise InvalidParameter("id", f"Things Group {scope_id} was not found")
        group_sid = scope_id
    plan = _plan(await repo.price_plan(session, account))
    sids = await repo.thing_sids(session, account, group_sid, thing_sid)
    history: dict[str, list[tuple[datetime, str]]] = {}
    for sid, status, at in await repo.state_changes(session, account, group_sid, thing_sid, cycle.end):
        history.setdefault(sid, []).append((at, status))
    usage = await repo.usage(session, account, group_sid, thing_sid, cycle.start, cycle.end)
    lines = []
    for sid in sids:
        changes = history.get(sid, [])
        at_start = NEVER_ACTIVATED
        for at, status in changes:
            if at >= cycle.start:
                break
            at_start = status
        fees = int(rating.pays_monthly_fee(at_start, changes, cycle))
        data_bytes, sms = usage.get(sid, (0, 0))
        lines.append(rating.rate_line(sid, data_bytes, sms, fees, plan))
    return Report(cycle=cycle, scope=scope, scope_id=scope_id, plan=plan, lines=lines)


async def store_download(
    session: AsyncSession, caller: Caller, media_type: str, content: str, ttl: timedelta, now: datetime
) -> str:
    """Keep a rendered report for the account until `now + ttl`; returns its sid (expired ones are purged here)."""
    await repo.purge_downloads(session, now)
    sid = new_sid(Prefix.REPORT_DOWNLOAD)
    session.add(
        ReportDownload(
            sid=sid, account_sid=caller.account_sid, media_type=media_type, content=content, expires_at=now + ttl
        )
    )
    await session.flush()
    return sid


async def fetch_download(session: AsyncSession, caller: Caller, sid: str, now: datetime) -> ReportDownload | None:
    return await repo.download(session, caller.account_sid, sid, now)
