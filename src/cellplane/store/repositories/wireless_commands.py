"""Queries on Programmable Wireless Commands, scoped by account, newest first; the SIM lookups delivery needs."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Select, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from cellplane.domain.paging import Page, PageSpec
from cellplane.store.models import Sim, WirelessCommand
from cellplane.store.repositories.paging import keyset_page


@dataclass(frozen=True)
class CommandFilter:
    """Narrowing of an account's commands; None means "any"."""

    sim_sid: str | None = None
    status: str | None = None
    direction: str | None = None
    transport: str | None = None


def add(session: AsyncSession, command: WirelessCommand) -> None:
    session.add(command)


def list_query(account_sid: str, where: CommandFilter) -> Select[WirelessCommand]:
    stmt = select(WirelessCommand).where(WirelessCommand.account_sid == account_sid)
    for column, value in (
        (WirelessCommand.sim_sid, where.sim_sid),
        (WirelessCommand.status, where.status),
        (WirelessCommand.direction, where.direction),
        (WirelessCommand.transport, where.transport),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    return stmt


async def page(session: AsyncSession, stmt: Select[WirelessCommand], spec: PageSpec) -> Page[WirelessCommand]:
    # Sids are time-ordered, so descending sid order is newest first (as IP and SMS Commands list).
    return await keyset_page(session, stmt, WirelessCommand.sid, spec, descending=True)


async def find_visible(session: AsyncSession, sid: str, visible: Iterable[str]) -> WirelessCommand | None:
    stmt = select(WirelessCommand).where(WirelessCommand.sid == sid, WirelessCommand.account_sid.in_(list(visible)))
    return (await session.execute(stmt)).scalar_one_or_none()


async def get(session: AsyncSession, sid: str) -> WirelessCommand | None:
    return await session.get(WirelessCommand, sid)


async def with_sim(session: AsyncSession, sid: str) -> tuple[WirelessCommand, Sim] | None:
    """A command and its SIM (for the IMSI to reach, the unique name the callback carries, the counters)."""
    stmt = select(WirelessCommand, Sim).join(Sim, Sim.sid == WirelessCommand.sim_sid).where(WirelessCommand.sid == sid)
    row = (await session.execute(stmt)).first()
    return (row[0], row[1]) if row is not None else None


async def remove(session: AsyncSession, sid: str) -> None:
    await session.execute(delete(WirelessCommand).where(WirelessCommand.sid == sid))
