"""Queries on connection events (attaches and data-session events), scoped by account, newest first."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from cellplane.domain.paging import Page, PageSpec
from cellplane.store.models import ConnectionEvent
from cellplane.store.repositories.paging import keyset_page


@dataclass(frozen=True)
class EventFilter:
    """Narrowing of an account's events; None means "any"."""

    sim_sid: str | None = None
    iccid: str | None = None
    fleet_sid: str | None = None
    event_type: str | None = None
    start: datetime | None = None
    end: datetime | None = None


def list_query(account_sid: str, where: EventFilter) -> Select[ConnectionEvent]:
    stmt = select(ConnectionEvent).where(ConnectionEvent.account_sid == account_sid)
    if where.sim_sid is not None:
        stmt = stmt.where(ConnectionEvent.sim_sid == where.sim_sid)
    if where.iccid is not None:
        stmt = stmt.where(ConnectionEvent.iccid == where.iccid)
    if where.fleet_sid is not None:
        stmt = stmt.where(ConnectionEvent.fleet_sid == where.fleet_sid)
    if where.event_type is not None:
        stmt = stmt.where(ConnectionEvent.event_type == where.event_type)
    if where.start is not None:
        stmt = stmt.where(ConnectionEvent.timestamp >= where.start)
    if where.end is not None:
        stmt = stmt.where(ConnectionEvent.timestamp < where.end)
    return stmt


async def page(session: AsyncSession, stmt: Select[ConnectionEvent], spec: PageSpec) -> Page[ConnectionEvent]:
    # Sids are time-ordered, so descending sid order is newest first.
    return await keyset_page(session, stmt, ConnectionEvent.sid, spec, descending=True)


async def find_visible(session: AsyncSession, sid: str, visible: Iterable[str]) -> ConnectionEvent | None:
    stmt = select(ConnectionEvent).where(ConnectionEvent.sid == sid, ConnectionEvent.account_sid.in_(list(visible)))
    return (await session.execute(stmt)).scalar_one_or_none()
