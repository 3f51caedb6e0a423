"""Read-only queries for people's views of an account: counts for the dashboard, a search over every product's
SIMs, one SIM's recent history, and what changed since a cursor (the console's live feed).

Every query is bounded by an index: counts over time windows read sids from a floor (sids are time-ordered,
domain/ids.py), lists are keyset pages or LIMITed.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import distinct, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cellplane.store.models import (
    ConnectionEvent,
    DataSession,
    Fleet,
    IpCommand,
    RatePlan,
    Sim,
    SmsCommand,
    UsageBucket,
    WebhookDelivery,
    WirelessCommand,
)
from cellplane.store.repositories.sim_search import prefix_range


async def sims_by_product_status(session: AsyncSession, account_sid: str) -> list[tuple[str, str, int]]:
    stmt = (
        select(Sim.product, Sim.status, func.count())
        .where(Sim.account_sid == account_sid)
        .group_by(Sim.product, Sim.status)
    )
    return [(row[0], row[1], int(row[2])) for row in (await session.execute(stmt)).all()]


async def usage_by_day(
    session: AsyncSession, account_sid: str, since: datetime, sim_sid: str | None = None
) -> list[tuple[Any, int, int]]:
    """(day, bytes up, bytes down) since `since`, from the hourly buckets."""
    day = func.date(UsageBucket.hour)
    stmt = select(day, func.sum(UsageBucket.bytes_up), func.sum(UsageBucket.bytes_down)).where(
        UsageBucket.hour >= since
    )
    # One SIM's buckets by its own (sim_sid, hour, ...) key; the account's by (account_sid, hour). Never both: with
    # both, PostgreSQL chose the account's index and filtered every SIM's month for one.
    if sim_sid is not None:
        stmt = stmt.where(UsageBucket.sim_sid == sim_sid)
    else:
        stmt = stmt.where(UsageBucket.account_sid == account_sid)
    rows = (await session.execute(stmt.group_by(day).order_by(day))).all()
    return [(row[0], int(row[1] or 0), int(row[2] or 0)) for row in rows]


async def count_by(session: AsyncSession, model: Any, column: Any, account_sid: str, sid_floor: str) -> dict[str, int]:
    """Rows of `model` per value of `column` for one account, made since the sid floor."""
    stmt = select(column, func.count()).where(model.account_sid == account_sid, model.sid >= sid_floor).group_by(column)
    return {str(row[0]): int(row[1]) for row in (await session.execute(stmt)).all()}


async def failing_webhooks(session: AsyncSession, account_sid: str, limit: int = 5) -> list[WebhookDelivery]:
    stmt = (
        select(WebhookDelivery)
        .where(WebhookDelivery.account_sid == account_sid, WebhookDelivery.status == "failed")
        .order_by(WebhookDelivery.sid.desc())
        .limit(limit)
    )
    return list((await session.execute(stmt)).scalars())


async def sims_with_ip(session: AsyncSession, account_sid: str, address: str) -> list[str]:
    """SIMs holding `address` in an open data session."""
    stmt = (
        select(distinct(DataSession.sim_sid))
        .where(DataSession.account_sid == account_sid, DataSession.status == "open", DataSession.ue_ip == address)
        .limit(100)
    )
    return list((await session.execute(stmt)).scalars())


async def sims_with_imei(session: AsyncSession, account_sid: str, imei: str) -> list[str]:
    """SIMs seen in a device of this IMEI (or IMEISV prefix)."""
    stmt = (
        select(distinct(DataSession.sim_sid))
        .where(DataSession.account_sid == account_sid, prefix_range(DataSession.imei, imei))
        .limit(100)
    )
    return list((await session.execute(stmt)).scalars())


async def recent_events(
    session: AsyncSession, sim_sid: str, limit: int = 20, event_types: Sequence[str] | None = None
) -> list[ConnectionEvent]:
    stmt = select(ConnectionEvent).where(ConnectionEvent.sim_sid == sim_sid)
    if event_types:
        stmt = stmt.where(ConnectionEvent.event_type.in_(event_types))
    stmt = stmt.order_by(ConnectionEvent.sid.desc()).limit(limit)
    return list((await session.execute(stmt)).scalars())


async def recent_sessions(session: AsyncSession, sim_sid: str, limit: int = 10) -> list[DataSession]:
    stmt = select(DataSession).where(DataSession.sim_sid == sim_sid).order_by(DataSession.sid.desc()).limit(limit)
    return list((await session.execute(stmt)).scalars())


async def recent_commands(session: AsyncSession, model: Any, sim_sid: str, limit: int = 10) -> list[Any]:
    stmt = select(model).where(model.sim_sid == sim_sid).order_by(model.sid.desc()).limit(limit)
    return list((await session.execute(stmt)).scalars())


async def imei_history(session: AsyncSession, sim_sid: str, limit: int = 10) -> list[tuple[str, datetime]]:
    """Each IMEI the SIM was seen in, with when it was last seen (from its data sessions)."""
    stmt = (
        select(DataSession.imei, func.max(DataSession.start))
        .where(DataSession.sim_sid == sim_sid, DataSession.imei.is_not(None))
        .group_by(DataSession.imei)
        .order_by(func.max(DataSession.start).desc())
        .limit(limit)
    )
    return [(str(row[0]), row[1]) for row in (await session.execute(stmt)).all()]


async def names(session: AsyncSession, model: Any, sids: Collection[str]) -> dict[str, str | None]:
    """unique_name by sid for fleets or rate plans (the list shows names, not sids)."""
    if not sids:
        return {}
    stmt = select(model.sid, model.unique_name).where(model.sid.in_(list(sids)))
    return {row[0]: row[1] for row in (await session.execute(stmt)).all()}


async def all_fleets(session: AsyncSession, account_sid: str, limit: int = 200) -> list[Fleet]:
    stmt = select(Fleet).where(Fleet.account_sid == account_sid).order_by(Fleet.sid).limit(limit)
    return list((await session.execute(stmt)).scalars())


async def all_rate_plans(session: AsyncSession, account_sid: str, limit: int = 200) -> list[RatePlan]:
    stmt = select(RatePlan).where(RatePlan.account_sid == account_sid).order_by(RatePlan.sid).limit(limit)
    return list((await session.execute(stmt)).scalars())


# --- the live feed: what changed since a cursor -------------------------------------------------------------


async def last_event_sid(session: AsyncSession) -> str:
    return str((await session.execute(select(func.max(ConnectionEvent.sid)))).scalar() or "")


async def events_after(session: AsyncSession, after: str, limit: int = 200) -> list[ConnectionEvent]:
    stmt = select(ConnectionEvent).where(ConnectionEvent.sid > after).order_by(ConnectionEvent.sid).limit(limit)
    return list((await session.execute(stmt)).scalars())


async def sim_states(session: AsyncSession, sim_sids: Collection[str]) -> dict[str, tuple[str, str | None]]:
    """(status, pending status) of each SIM."""
    if not sim_sids:
        return {}
    stmt = select(Sim.sid, Sim.status, Sim.pending_status).where(Sim.sid.in_(list(sim_sids)))
    return {row[0]: (row[1], row[2]) for row in (await session.execute(stmt)).all()}


async def command_states(session: AsyncSession, sids: Collection[str]) -> dict[str, tuple[str, str | None]]:
    """(status, error message) of IP, SMS and Wireless commands."""
    found: dict[str, tuple[str, str | None]] = {}
    for model, prefix in ((IpCommand, "HG"), (SmsCommand, "HC"), (WirelessCommand, "DC")):
        wanted = [sid for sid in sids if sid.startswith(prefix)]
        if wanted:
            stmt = select(model.sid, model.status, model.error_message).where(model.sid.in_(wanted))
            found.update({row[0]: (row[1], row[2]) for row in (await session.execute(stmt)).all()})
    return found


async def owners_of(session: AsyncSession, iccids: Collection[str]) -> dict[str, str | None]:
    if not iccids:
        return {}
    stmt = select(Sim.iccid, Sim.account_sid).where(Sim.iccid.in_(list(iccids)))
    return {row[0]: row[1] for row in (await session.execute(stmt)).all()}


async def account_events_after(
    session: AsyncSession, account_sid: str, sim_sid: str | None, after: str, limit: int = 50
) -> list[ConnectionEvent]:
    """One account's (or one SIM's) events after a sid, oldest first: a page's catch-up when its stream opens."""
    stmt = select(ConnectionEvent).where(ConnectionEvent.sid > after)
    if sim_sid is not None:
        stmt = stmt.where(ConnectionEvent.sim_sid == sim_sid)
    else:
        stmt = stmt.where(ConnectionEvent.account_sid == account_sid)
    return list((await session.execute(stmt.order_by(ConnectionEvent.sid).limit(limit))).scalars())
