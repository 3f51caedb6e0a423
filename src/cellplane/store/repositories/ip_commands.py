"""Queries on IP Commands, scoped by account, newest first; and the SIM lookups command delivery needs."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, bindparam, insert, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from cellplane.domain.ids import Prefix, is_sid
from cellplane.domain.paging import Page, PageSpec
from cellplane.store.models import Fleet, IpCommand, Job, Sim, WebhookDelivery
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


# --- the command outbox (services/ip_command_outbox.py): Core statements built once, executed many ------------

_COMMANDS = IpCommand.__table__
_INSERT_COMMANDS = insert(_COMMANDS)
_INSERT_WEBHOOKS = insert(WebhookDelivery.__table__)
_INSERT_JOBS = insert(Job.__table__)
# Only a command still queued is settled: one a sweep elsewhere already settled (or retention purged) is left.
_SETTLE = (
    update(_COMMANDS)
    .where(_COMMANDS.c.sid == bindparam("b_sid"), _COMMANDS.c.status == "queued")
    .values(
        status=bindparam("b_status"),
        device_ip=bindparam("b_device_ip"),
        error_code=bindparam("b_error_code"),
        error_message=bindparam("b_error_message"),
        date_updated=bindparam("b_date_updated"),
        dispatch_at=None,
    )
)
_SETTLE_KEYS = ("sid", "status", "device_ip", "error_code", "error_message", "date_updated")
_DUE = (
    select(*_COMMANDS.c, Sim.imsi, Sim.unique_name.label("sim_unique_name"))
    .join(Sim, Sim.sid == _COMMANDS.c.sim_sid)
    .where(
        _COMMANDS.c.status == "queued",
        _COMMANDS.c.dispatch_at <= bindparam("now", type_=_COMMANDS.c.dispatch_at.type),
        _COMMANDS.c.direction == "to_sim",
    )
    .order_by(_COMMANDS.c.dispatch_at)
    .limit(bindparam("limit"))
)
_DUE_LOCKED = _DUE.with_for_update(skip_locked=True, of=_COMMANDS)
_CLAIM = (
    update(_COMMANDS)
    .where(_COMMANDS.c.sid == bindparam("b_sid"), _COMMANDS.c.status == "queued")
    .values(dispatch_at=bindparam("b_until", type_=_COMMANDS.c.dispatch_at.type))
)


async def insert_commands(connection: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    """Insert new commands, all in one statement execution (executemany / insertmanyvalues)."""
    await connection.execute(_INSERT_COMMANDS, list(rows))


async def settle_commands(connection: AsyncConnection, outcomes: Sequence[dict[str, Any]]) -> None:
    """Record outcomes (dicts with sid, status, device_ip, error_code, error_message, date_updated)."""
    params = [{f"b_{key}": outcome[key] for key in _SETTLE_KEYS} for outcome in outcomes]
    await connection.execute(_SETTLE, params)


async def insert_webhooks(
    connection: AsyncConnection, deliveries: Sequence[dict[str, Any]], jobs: Sequence[dict[str, Any]]
) -> None:
    """Webhook deliveries and the jobs that deliver them, as Core inserts."""
    await connection.execute(_INSERT_WEBHOOKS, list(deliveries))
    await connection.execute(_INSERT_JOBS, list(jobs))


async def claim_due(
    connection: AsyncConnection, now: datetime, until: datetime, limit: int, skip: Iterable[str] = ()
) -> list[Row[Any]]:
    """Queued commands to SIMs whose dispatch_at has passed (columns + the SIM's imsi and unique name), claimed
    until `until` so that another node's sweep leaves them alone; `skip` names commands this process holds."""
    stmt = _DUE_LOCKED if connection.dialect.name == "postgresql" else _DUE
    held = set(skip)
    rows = [row for row in (await connection.execute(stmt, {"now": now, "limit": limit})) if row.sid not in held]
    if rows:
        await connection.execute(_CLAIM, [{"b_sid": row.sid, "b_until": until} for row in rows])
    return rows


_SIM_COLUMNS = (Sim.sid, Sim.account_sid, Sim.iccid, Sim.imsi, Sim.unique_name, Sim.status, Sim.pending_status)
_SIMS_BY_SID = select(*_SIM_COLUMNS).where(
    Sim.product == bindparam("product"), Sim.sid.in_(bindparam("sids", expanding=True))
)
_SIMS_BY_NAME = select(*_SIM_COLUMNS).where(
    Sim.product == bindparam("product"),
    Sim.account_sid.in_(bindparam("accounts", expanding=True)),
    Sim.unique_name.in_(bindparam("names", expanding=True)),
)


async def sims_for_commands(
    connection: AsyncConnection, wanted: Iterable[tuple[str, str]], product: str, prefix: Prefix
) -> dict[tuple[str, str], Row[Any]]:
    """SIMs by (account, sid or unique name), for a batch of commands: a sid is looked up as such, anything else
    as a unique name in that account; a SIM appears under its own account only, so another's is not found."""
    sids: set[str] = set()
    accounts: set[str] = set()
    names: set[str] = set()
    for account, key in wanted:
        if is_sid(key, prefix):
            sids.add(key)
        else:
            accounts.add(account)
            names.add(key)
    found: dict[tuple[str, str], Row[Any]] = {}
    if sids:
        for row in await connection.execute(_SIMS_BY_SID, {"product": product, "sids": sorted(sids)}):
            found[(row.account_sid, row.sid)] = row
    if names:
        params = {"product": product, "accounts": sorted(accounts), "names": sorted(names)}
        for row in await connection.execute(_SIMS_BY_NAME, params):
            found[(row.account_sid, row.unique_name)] = row
    return found
