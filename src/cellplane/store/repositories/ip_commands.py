"""Queries on IP Commands, scoped by account, newest first; and the SIM lookups command delivery needs."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from cellplane.domain.paging import Page, PageSpec
from cellplane.store.models import Fleet, IpCommand, Sim
from cellplane.store.repositories.paging import keyset_page


@dataclass(frozen=True)
class CommandFilter:
    """Narrowing of an account's commands; None means "any"."""

    sim_sid: str | None = None
    status: str | None = None
    direction: str | None = None


def add(session: AsyncSession, command: IpCommand) -> None:
    session.add(command)


def list_query(account_sid: str, where: CommandFilter) -> Select[IpCommand]:
    stmt = select(IpCommand).where(IpCommand.account_sid == account_sid)
    if where.sim_sid is not None:
        stmt = stmt.where(IpCommand.sim_sid == where.sim_sid)
    if where.status is not None:
        stmt = stmt.where(IpCommand.status == where.status)
    if where.direction is not None:
        stmt = stmt.where(IpCommand.direction == where.direction)
    return stmt


async def page(session: AsyncSession, stmt: Select[IpCommand], spec: PageSpec) -> Page[IpCommand]:
    # Sids are time-ordered, so descending sid order is newest first.
    return await keyset_page(session, stmt, IpCommand.sid, spec, descending=True)


async def find_visible(session: AsyncSession, sid: str, visible: Iterable[str]) -> IpCommand | None:
    stmt = select(IpCommand).where(IpCommand.sid == sid, IpCommand.account_sid.in_(list(visible)))
    return (await session.execute(stmt)).scalar_one_or_none()


async def get(session: AsyncSession, sid: str) -> IpCommand | None:
    return await session.get(IpCommand, sid)


async def with_sim(session: AsyncSession, sid: str) -> tuple[IpCommand, Sim] | None:
    """A command and its SIM (for the IMSI to reach and the unique name the callback carries)."""
    stmt = select(IpCommand, Sim).join(Sim, Sim.sid == IpCommand.sim_sid).where(IpCommand.sid == sid)
    row = (await session.execute(stmt)).first()
    return (row[0], row[1]) if row is not None else None


async def sims_by_imsi(session: AsyncSession, imsis: Iterable[str]) -> dict[str, tuple[Sim, Fleet | None]]:
    """Claimed SIMs by IMSI, each with its fleet (whose ip_commands_url hears commands from the SIM)."""
    wanted = sorted(set(imsis))
    if not wanted:
        return {}
    stmt = (
        select(Sim, Fleet)
        .outerjoin(Fleet, Fleet.sid == Sim.fleet_sid)
        .where(Sim.imsi.in_(wanted), Sim.account_sid.is_not(None))
    )
    return {sim.imsi: (sim, fleet) for sim, fleet in (await session.execute(stmt)).tuples()}
