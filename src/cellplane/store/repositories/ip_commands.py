"""Queries on IP Commands, scoped by account, newest first; and the SIM lookups command delivery needs."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from operator import attrgetter
from typing import Any, NamedTuple

from sqlalchemy import Boolean, Select, bindparam, exists, insert, literal, or_, select, text, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from cellplane.domain.ids import Prefix, is_sid
from cellplane.domain.paging import Page, PageSpec
from cellplane.store.db_clock import db_utcnow
from cellplane.store.driver_sql import (
    Timestamps,
    autocommit_driver,
    execute_many,
    fetch_all,
    insert_sql,
    json_rows,
    jsonb_rows,
)
from cellplane.store.models import DataSession, Fleet, IpCommand, Job, Sim, SingletonLease, WebhookDelivery
from cellplane.store.models.base import UtcDateTime
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


# --- the command outbox (services/ip_command_outbox.py): statements built once, executed many ------------------

_COMMANDS = IpCommand.__table__
_INSERT_WEBHOOKS = insert(WebhookDelivery.__table__)
_INSERT_JOBS = insert(Job.__table__)
# The batch writes go to the driver as tuples (store/driver_sql.py): a Core executemany cost ~40 us a command.
_COMMAND_COLUMNS = tuple(column.key for column in _COMMANDS.columns)
_COMMAND_TIMES = tuple(i for i, column in enumerate(_COMMANDS.columns) if isinstance(column.type, UtcDateTime))
_command_values = attrgetter(*_COMMAND_COLUMNS)
_INSERT_COMMANDS = insert_sql("ip_commands", _COMMAND_COLUMNS)
# Only a command still queued is settled: one a sweep elsewhere already settled (or retention purged) is left.
_SETTLE_COLUMNS = ("status", "device_ip", "error_code", "error_message", "date_updated", "sid")
_settle_values = attrgetter(*_SETTLE_COLUMNS)
_SETTLE = (
    "UPDATE ip_commands SET status = ?, device_ip = ?, error_code = ?, error_message = ?, date_updated = ?, "
    "dispatch_at = NULL WHERE sid = ? AND status = 'queued'"
)
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


def _held_elsewhere(imsi: Any) -> Any:
    """Whether another gateway, alive (its lease unlapsed), holds an open session of `imsi` (issue 21: a gateway's
    sessions carry its NAS-Identifier, its lease is the row `gateway:<NAS-Identifier>`)."""
    return exists().where(
        DataSession.imsi == imsi,
        DataSession.status == "open",
        DataSession.nas_id != bindparam("nas"),
        SingletonLease.name == literal("gateway:") + DataSession.nas_id,
        SingletonLease.holder.is_not(None),
        SingletonLease.lease_until > db_utcnow(),
    )


# A sweep: due commands; a gateway node's (`anyone` false) leaves out those to SIMs whose session another live
# gateway holds (that one claims them). Commands to SIMs attached nowhere are claimed by any gateway, which fails
# them (83400). One statement either way (one SKIP LOCKED shape, tests/unit/test_citus_readiness.py).
_DUE_FOR = _DUE.where(or_(bindparam("anyone", type_=Boolean()), ~_held_elsewhere(Sim.imsi)))
_DUE_LOCKED = _DUE_FOR.with_for_update(skip_locked=True, of=_COMMANDS)
_HELD_ELSEWHERE = select(_held_elsewhere(bindparam("imsi")))
_RELEASE = (
    update(_COMMANDS)
    .where(_COMMANDS.c.sid == bindparam("b_sid"), _COMMANDS.c.status == "queued")
    .values(dispatch_at=bindparam("b_now", type_=_COMMANDS.c.dispatch_at.type))
)
_CLAIM = (
    update(_COMMANDS)
    .where(_COMMANDS.c.sid == bindparam("b_sid"), _COMMANDS.c.status == "queued")
    .values(dispatch_at=bindparam("b_until", type_=_COMMANDS.c.dispatch_at.type))
)


def _command_row(command: Any, write: Timestamps) -> list[Any]:
    """A command's values in column order, times as the driver takes them."""
    values = list(_command_values(command))
    for at in _COMMAND_TIMES:
        values[at] = write(values[at])
    return values


async def insert_commands(connection: AsyncConnection, commands: Sequence[Any]) -> None:
    """Insert new commands (objects with the table's columns as attributes), one executemany."""
    write = Timestamps.for_dialect(connection.dialect.name)
    await execute_many(connection, _INSERT_COMMANDS, [tuple(_command_row(command, write)) for command in commands])


async def settle_commands(connection: AsyncConnection, commands: Sequence[Any]) -> None:
    """Record outcomes (objects with sid, status, device_ip, error_code, error_message, date_updated)."""
    write = Timestamps.for_dialect(connection.dialect.name)
    rows = []
    for command in commands:
        status, device_ip, code, message, updated, sid = _settle_values(command)
        rows.append((status, device_ip, code, message, write(updated), sid))
    await execute_many(connection, _SETTLE, rows)


# PostgreSQL: a batch's new commands and outcomes in ONE statement that commits by itself on an AUTOCOMMIT
# connection (one round trip instead of BEGIN, an executemany each, COMMIT). Rows travel as JSON arrays, one C call
# to encode (as the AAA's accounting batches do). A new command is inserted only if its SIM is still as the command
# names it, checked in the same statement: the caller may have taken the SIM from a cache.
_PG_TYPES = {"device_port": "integer", "error_code": "integer"} | {
    _COMMAND_COLUMNS[at]: "timestamp" for at in _COMMAND_TIMES
}
_PG_NEW = (*_COMMAND_COLUMNS, "sim_unique_name")


def _pg_rows(columns: Sequence[str], param: int) -> str:
    return jsonb_rows(columns, param, _PG_TYPES)


_PG_WRITE = (
    f"WITH n AS ({_pg_rows(_PG_NEW, 1)}), "
    f"new AS (INSERT INTO ip_commands ({', '.join(_COMMAND_COLUMNS)}) "
    f"SELECT {', '.join(f'n.{c}' for c in _COMMAND_COLUMNS)} FROM n WHERE EXISTS (SELECT 1 FROM sims AS s "
    "WHERE s.sid = n.sim_sid AND s.account_sid = n.account_sid "
    "AND s.unique_name IS NOT DISTINCT FROM n.sim_unique_name "
    "AND (CASE WHEN s.status = 'scheduled' AND coalesce(s.pending_status, '') <> '' THEN s.pending_status "
    "ELSE s.status END) = ANY($3::text[])) RETURNING sid), "
    "outcome AS (UPDATE ip_commands AS c SET status = o.status, device_ip = o.device_ip, error_code = o.error_code, "
    "error_message = o.error_message, date_updated = o.date_updated, dispatch_at = NULL "
    f"FROM ({_pg_rows(_SETTLE_COLUMNS, 2)}) AS o WHERE c.sid = o.sid AND c.status = 'queued') "
    "SELECT sid FROM new"
)


async def write_commands(
    connection: AsyncConnection, commands: Sequence[Any], settled: Sequence[Any], reachable: Collection[str]
) -> set[str]:
    """New commands and outcomes of earlier ones (as insert_commands and settle_commands); returns the sids of the
    new commands written.

    On PostgreSQL one statement (on an AUTOCOMMIT connection its own transaction; elsewhere in the caller's), and a
    command is written only if its SIM is still in its account under the command's `sim_unique_name` and in a
    `reachable` status (or scheduled to one): whoever took the SIM from a cache learns here that it changed. On
    SQLite, in the caller's transaction, every command is written (the caller looked its SIMs up in it)."""
    if connection.dialect.name != "postgresql":
        if commands:
            await insert_commands(connection, commands)
        if settled:
            await settle_commands(connection, settled)
        return {command.sid for command in commands}
    write = Timestamps(text=True, json=True)
    new_rows = [[*_command_row(command, write), command.sim_unique_name] for command in commands]
    outcomes = [(*values[:4], write(values[4]), values[5]) for values in map(_settle_values, settled)]
    params = (json_rows(new_rows), json_rows(outcomes), sorted(reachable))
    driver = await autocommit_driver(connection)
    if driver is not None:
        rows = await driver.fetch(_PG_WRITE, *params)
    else:
        rows = (await connection.exec_driver_sql(_PG_WRITE, params)).all()
    return {row[0] for row in rows}


async def insert_webhooks(
    connection: AsyncConnection, deliveries: Sequence[dict[str, Any]], jobs: Sequence[dict[str, Any]]
) -> None:
    """Webhook deliveries and the jobs that deliver them, as Core inserts."""
    await connection.execute(_INSERT_WEBHOOKS, list(deliveries))
    await connection.execute(_INSERT_JOBS, list(jobs))


async def claim_due(
    connection: AsyncConnection,
    now: datetime,
    until: datetime,
    limit: int,
    skip: Iterable[str] = (),
    nas_id: str | None = None,
) -> list[Row[Any]]:
    """Queued commands to SIMs whose dispatch_at has passed (columns + the SIM's imsi and unique name), claimed
    until `until` so that another node's sweep leaves them alone; `skip` names commands this process holds.
    `nas_id`: this node's gateway, which leaves alone commands to SIMs another live gateway holds a session of."""
    stmt = _DUE_LOCKED if connection.dialect.name == "postgresql" else _DUE_FOR
    held = set(skip)
    found = await connection.execute(stmt, {"now": now, "limit": limit, "nas": nas_id or "", "anyone": nas_id is None})
    rows = [row for row in found if row.sid not in held]
    if rows:
        await connection.execute(_CLAIM, [{"b_sid": row.sid, "b_until": until} for row in rows])
    return rows


class CommandSim(NamedTuple):
    """What a command needs of its SIM: who owns it, where it is, whether it may take commands."""

    sid: str
    account_sid: str
    iccid: str
    imsi: str
    unique_name: str | None
    status: str
    pending_status: str | None


# Plain SQL on the driver (the values are all text, nothing to convert): an expanding IN through Core cost a
# compile of its own on every batch. One statement text per number of keys.
_SIM_SELECT = "SELECT sid, account_sid, iccid, imsi, unique_name, status, pending_status FROM sims WHERE product = ?"


def _marks(count: int) -> str:
    return ", ".join("?" * count)


@lru_cache(maxsize=256)
def _sims_by_sid(count: int) -> str:
    return f"{_SIM_SELECT} AND sid IN ({_marks(count)})"


@lru_cache(maxsize=256)
def _sims_by_name(accounts: int, names: int) -> str:
    return f"{_SIM_SELECT} AND account_sid IN ({_marks(accounts)}) AND unique_name IN ({_marks(names)})"


async def sims_for_commands(
    connection: AsyncConnection, wanted: Iterable[tuple[str, str]], product: str, prefix: Prefix
) -> dict[tuple[str, str], CommandSim]:
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
    found: dict[tuple[str, str], CommandSim] = {}
    if sids:
        for row in await fetch_all(connection, _sims_by_sid(len(sids)), (product, *sorted(sids))):
            sim = CommandSim(*row)
            found[(sim.account_sid, sim.sid)] = sim
    if names:
        params = (product, *sorted(accounts), *sorted(names))
        for row in await fetch_all(connection, _sims_by_name(len(accounts), len(names)), params):
            sim = CommandSim(*row)
            found[(sim.account_sid, sim.unique_name)] = sim  # type: ignore[index]
    return found


async def held_elsewhere(connection: AsyncConnection, imsi: str, nas_id: str) -> bool:
    """Whether a gateway other than `nas_id`, alive, holds an open session of the SIM."""
    return bool((await connection.execute(_HELD_ELSEWHERE, {"imsi": imsi, "nas": nas_id})).scalar())


async def release(connection: AsyncConnection, sids: list[str], now: datetime) -> None:
    """Make queued commands due at once, for the gateway that holds their SIM's session to claim (woken by a
    NOTIFY on PostgreSQL: store/notify.py, kind `ip_command`)."""
    if not sids:
        return
    await connection.execute(_RELEASE, [{"b_sid": sid, "b_now": now} for sid in sids])
    if connection.dialect.name == "postgresql":
        await connection.execute(
            text("SELECT pg_notify(:channel, :payload)"), {"channel": "cellplane_changes", "payload": "ip_command:*"}
        )
