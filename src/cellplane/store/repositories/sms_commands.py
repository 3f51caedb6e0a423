"""Queries on SMS Commands, scoped by account, newest first; the SIM lookups delivery needs; SMS usage counters."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from cellplane.domain.paging import Page, PageSpec
from cellplane.store.models import DataSession, Fleet, Sim, SmsCommand, UsageBucket
from cellplane.store.repositories.paging import keyset_page


@dataclass(frozen=True)
class CommandFilter:
    """Narrowing of an account's commands; None means "any"."""

    sim_sid: str | None = None
    status: str | None = None
    direction: str | None = None
    # Only commands of SIMs whose sid starts so (the Super SIM list leaves out Things' SMS, stored alongside).
    sim_prefix: str | None = None


def add(session: AsyncSession, command: SmsCommand) -> None:
    session.add(command)


def list_query(account_sid: str, where: CommandFilter) -> Select[SmsCommand]:
    stmt = select(SmsCommand).where(SmsCommand.account_sid == account_sid)
    if where.sim_sid is not None:
        stmt = stmt.where(SmsCommand.sim_sid == where.sim_sid)
    if where.status is not None:
        stmt = stmt.where(SmsCommand.status == where.status)
    if where.direction is not None:
        stmt = stmt.where(SmsCommand.direction == where.direction)
    if where.sim_prefix is not None:
        stmt = stmt.where(SmsCommand.sim_sid.startswith(where.sim_prefix))
    return stmt


async def page(session: AsyncSession, stmt: Select[SmsCommand], spec: PageSpec) -> Page[SmsCommand]:
    # Sids are time-ordered, so descending sid order is newest first.
    return await keyset_page(session, stmt, SmsCommand.sid, spec, descending=True)


async def find_visible(session: AsyncSession, sid: str, visible: Iterable[str]) -> SmsCommand | None:
    stmt = select(SmsCommand).where(SmsCommand.sid == sid, SmsCommand.account_sid.in_(list(visible)))
    return (await session.execute(stmt)).scalar_one_or_none()


async def with_sim(session: AsyncSession, sid: str) -> tuple[SmsCommand, Sim] | None:
    """A command and its SIM (for the IMSI to reach, the unique name the callback carries, the counters)."""
    stmt = select(SmsCommand, Sim).join(Sim, Sim.sid == SmsCommand.sim_sid).where(SmsCommand.sid == sid)
    row = (await session.execute(stmt)).first()
    return (row[0], row[1]) if row is not None else None


async def fleet(session: AsyncSession, fleet_sid: str | None) -> Fleet | None:
    return await session.get(Fleet, fleet_sid) if fleet_sid else None


async def sim_by_imsi(session: AsyncSession, imsi: str) -> tuple[Sim, Fleet | None] | None:
    """A claimed SIM by IMSI, with its fleet (whose sms_commands_url hears SMS from the SIM)."""
    stmt = (
        select(Sim, Fleet)
        .outerjoin(Fleet, Fleet.sid == Sim.fleet_sid)
        .where(Sim.imsi == imsi, Sim.account_sid.is_not(None))
    )
    row = (await session.execute(stmt)).first()
    return (row[0], row[1]) if row is not None else None


async def add_ready_sms(session: AsyncSession, sim_sid: str) -> int | None:
    """One more SMS toward ready -> active, for a `ready` SIM only; its new count (None when not ready).

    One UPDATE, so that two SMS counted at once both count (no read-modify-write)."""
    counted = await session.execute(
        update(Sim)
        .where(Sim.sid == sim_sid, Sim.status == "ready")
        .values(ready_sms=Sim.ready_sms + 1)
        .execution_options(synchronize_session=False)
    )
    if getattr(counted, "rowcount", 0) != 1:
        return None
    return (await session.execute(select(Sim.ready_sms).where(Sim.sid == sim_sid))).scalar_one()


async def serving_network(session: AsyncSession, sim_sid: str) -> tuple[str, str | None]:
    """The visited network (sid, ISO country) of the SIM's open data session: where its SMS travel now;
    ("", None) when it has none (the usage buckets' "unknown")."""
    stmt = (
        select(DataSession.network_sid, DataSession.iso_country)
        .where(DataSession.sim_sid == sim_sid, DataSession.status == "open")
        .order_by(DataSession.start.desc())
        .limit(1)
    )
    row = (await session.execute(stmt)).first()
    return (row[0] or "", row[1]) if row is not None else ("", None)


async def add_sms_usage(
    session: AsyncSession, sim: Sim, network: tuple[str, str | None], hour: datetime, to_sim: int, from_sim: int
) -> None:
    """Count SMS in the SIM's hourly usage bucket on `network` (created when it is the hour's first usage)."""
    values: dict[str, Any] = {
        "account_sid": sim.account_sid,
        "sim_sid": sim.sid,
        "fleet_sid": sim.fleet_sid,
        "network_sid": network[0],
        "iso_country": network[1],
        "hour": hour,
        "bytes_up": 0,
        "bytes_down": 0,
        "sms_to_sim": to_sim,
        "sms_from_sim": from_sim,
        "ip_to_sim": 0,
        "ip_from_sim": 0,
    }
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    insert = dialect.insert(UsageBucket).values(**values)
    stmt = insert.on_conflict_do_update(
        index_elements=["sim_sid", "hour", "network_sid"],
        set_={
            "sms_to_sim": UsageBucket.sms_to_sim + insert.excluded.sms_to_sim,
            "sms_from_sim": UsageBucket.sms_from_sim + insert.excluded.sms_from_sim,
        },
    )
    await session.execute(stmt)
