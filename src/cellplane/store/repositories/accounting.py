"""Writes of RADIUS accounting, in bulk: data sessions, hourly usage, period usage, ready bytes, connection events.

Every function takes the rows of a whole batch. On SQLite each write is one executemany (SQLite runs in-process:
a statement costs no round trip). On PostgreSQL a segment's writes are one statement of data-modifying CTEs over the
batch's rows (`write_segment`), sent on the asyncpg connection under the session: one round trip and
one executor run per table instead of an executemany's execution per row, which cost the database ~30 us a row
and the batch six sequential round trips (bench/RESULTS.md, Network: RADIUS). Rows travel as JSON (`_rows`).

The executemany writes go to the driver directly (`exec_driver_sql` with tuples), not through SQLAlchemy's
per-row parameter processing: at thousands of rows a second that processing cost more CPU than the database
did (bench/RESULTS.md, Network: RADIUS). The price is written here once: each statement in the driver's
placeholder style, and timestamps in the form the `UtcDateTime` columns store (naive UTC; on SQLite the text
SQLAlchemy writes, so that comparisons with its own values hold).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from cellplane.store.driver_sql import Timestamps, for_dialect, insert_sql, json_rows, jsonb_rows
from cellplane.store.models import BillingPeriod, DataSession, Sim

OPEN = "open"
CLOSED = "closed"

_sessions = DataSession.__table__
_periods = BillingPeriod.__table__
_sims = Sim.__table__

# Columns the AAA keeps of a session in memory (its registry of live sessions) and needs to count growth.
SESSION_COLUMNS = (
    _sessions.c.sid,
    _sessions.c.account_sid,
    _sessions.c.sim_sid,
    _sessions.c.fleet_sid,
    _sessions.c.imsi,
    _sessions.c.nas_id,
    _sessions.c.nas_address,
    _sessions.c.acct_session_id,
    _sessions.c.status,
    _sessions.c.ue_ip,
    _sessions.c.network_sid,
    _sessions.c.mcc,
    _sessions.c.mnc,
    _sessions.c.iso_country,
    _sessions.c.radio_link,
    _sessions.c.imei,
    _sessions.c.bytes_up,
    _sessions.c.bytes_down,
    _sessions.c.packets_up,
    _sessions.c.packets_down,
    _sessions.c.terminate_cause,
    _sessions.c.end,
)
# (nas_id, acct_session_id) is the unique index: both columns, so that the lookup is an index probe per id.
_SESSIONS_AT = (
    "SELECT " + ", ".join(f'"{c.name}"' for c in SESSION_COLUMNS) + " FROM data_sessions "
    "WHERE nas_id = ? AND acct_session_id IN ({ids})"
)
_OPEN = select(*SESSION_COLUMNS).where(_sessions.c.status == OPEN)
_OPEN_AT_NAS = _OPEN.where(_sessions.c.nas_id == bindparam("nas_id"))
_PERIOD_USAGE = select(_periods.c.sid, _periods.c.data_used).where(_periods.c.sid.in_(bindparam("ids", expanding=True)))
_READY_AT = select(_sims.c.sid).where(
    _sims.c.sid.in_(bindparam("ids", expanding=True)),
    _sims.c.status == "ready",
    _sims.c.ready_bytes >= bindparam("threshold"),
)

# The columns an update is guarded by: what counting growth depends on (the rest of a row never changes while open).
SESSION_GUARD = ("status", "ue_ip", "bytes_up", "bytes_down", "packets_up", "packets_down")
# The column order of the tuples callers pass to insert_sessions / insert_events.
SESSION_INSERT = (
    "sid", "account_sid", "sim_sid", "fleet_sid", "imsi", "nas_id", "nas_address", "acct_session_id", "status",
    "ue_ip", "apn", "network_sid", "mcc", "mnc", "iso_country", "operator_name", "radio_link", "cell_id", "imei",
    "bytes_up", "bytes_down", "packets_up", "packets_down", "terminate_cause", "start", "end", "last_updated",
)  # fmt: skip
SESSION_TIMES = (SESSION_INSERT.index("start"), SESSION_INSERT.index("end"), SESSION_INSERT.index("last_updated"))
EVENT_INSERT = (
    "sid", "account_sid", "sim_sid", "iccid", "imsi", "fleet_sid", "event_type", "network_sid", "mcc", "mnc",
    "radio_link", "imei", "ip_address", "data_session_sid", "reason", "error_code", "bytes_up", "bytes_down",
    "timestamp",
)  # fmt: skip


_SQL = {
    "insert_session": insert_sql("data_sessions", SESSION_INSERT),
    # Only if the row still holds what the batch started from (SESSION_GUARD): see update_sessions. SQLite's
    # null-safe "IS"; PostgreSQL updates sessions in write_segment.
    "update_session": "UPDATE data_sessions SET status = ?, ue_ip = ?, bytes_up = ?, bytes_down = ?, packets_up = ?, "
    'packets_down = ?, terminate_cause = ?, "end" = ?, last_updated = ? WHERE sid = ? AND status = ? AND ue_ip IS ? '
    "AND bytes_up = ? AND bytes_down = ? AND packets_up = ? AND packets_down = ?",
    "close_at_nas": 'UPDATE data_sessions SET status = ?, "end" = ?, last_updated = ?, terminate_cause = ? '
    "WHERE nas_id = ? AND status = ?",
    "add_usage": "INSERT INTO usage_buckets (account_sid, sim_sid, fleet_sid, network_sid, iso_country, hour, "
    "bytes_up, bytes_down, sms_to_sim, sms_from_sim, ip_to_sim, ip_from_sim) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, 0, 0, 0) "
    "ON CONFLICT (sim_sid, hour, network_sid) DO UPDATE SET bytes_up = usage_buckets.bytes_up + excluded.bytes_up, "
    "bytes_down = usage_buckets.bytes_down + excluded.bytes_down",
    # date_updated moves: other nodes' caches see the period's usage change. Ready bytes are a counter, not a
    # change of the SIM resource: its date_updated stays.
    "add_period_usage": "UPDATE billing_periods SET data_used = data_used + ?, date_updated = ? WHERE sid = ?",
    "add_ready_bytes": "UPDATE sims SET ready_bytes = ready_bytes + ? WHERE sid = ? AND status = 'ready'",
    "insert_event": insert_sql("connection_events", EVENT_INSERT),
}


def _statement(name: str, dialect: str) -> str:
    return for_dialect(_SQL[name], dialect)


def _dialect(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


def timestamp_writer(session: AsyncSession) -> Timestamps:
    return Timestamps(text=_dialect(session) != "postgresql")


async def _many(session: AsyncSession, name: str, rows: list[tuple[Any, ...]]) -> int:
    """Run statement `name` once per row; returns the rows it changed."""
    if not rows:
        return 0
    connection = await session.connection()
    return (await connection.exec_driver_sql(_statement(name, _dialect(session)), rows)).rowcount


async def sessions_at(session: AsyncSession, keys: Mapping[str, Collection[str]]) -> list[dict[str, Any]]:
    """Sessions by NAS and Acct-Session-Ids (`keys`: nas_id -> ids), as dicts of SESSION_COLUMNS, `end` as the
    driver returns it (a session's `end` is only ever written back as read). Locked on PostgreSQL, so that two
    nodes never count the same growth (SQLite has a single writer)."""
    dialect = _dialect(session)
    names = [column.name for column in SESSION_COLUMNS]
    if dialect == "postgresql":
        pairs = [(nas_id, id_) for nas_id in sorted(keys) for id_ in sorted(set(keys[nas_id]))]
        driver = await _driver(session)
        rows = await driver.fetch(_PG_SESSIONS_AT, [p[0] for p in pairs], [p[1] for p in pairs])
        return [dict(zip(names, row, strict=True)) for row in rows]
    connection = await session.connection()
    found: list[dict[str, Any]] = []
    for nas_id in sorted(keys):
        ids = sorted(set(keys[nas_id]))
        for start in range(0, len(ids), 5000):
            chunk = ids[start : start + 5000]
            sql = _SESSIONS_AT.format(ids=", ".join("?" * len(chunk)))
            result = await connection.exec_driver_sql(sql, (nas_id, *chunk))
            found.extend(dict(zip(names, row, strict=True)) for row in result.all())
    return found


async def open_sessions(session: AsyncSession) -> Sequence[Any]:
    return (await session.execute(_OPEN)).all()


async def open_keys(session: AsyncSession, keys: Collection[tuple[str, str]]) -> set[tuple[str, str]]:
    """Which of these (nas_id, acct_session_id) sessions are open: index probes, a NAS and up to 900 ids a query
    (under SQLite's old bound-parameter limit)."""
    by_nas: dict[str, list[str]] = {}
    for nas_id, acct_session_id in keys:
        by_nas.setdefault(nas_id, []).append(acct_session_id)
    found: set[tuple[str, str]] = set()
    for nas_id, ids in sorted(by_nas.items()):
        for start in range(0, len(ids), 900):
            rows = await session.execute(
                select(_sessions.c.acct_session_id).where(
                    _sessions.c.nas_id == nas_id,
                    _sessions.c.acct_session_id.in_(ids[start : start + 900]),
                    _sessions.c.status == OPEN,
                )
            )
            found.update((nas_id, acct_session_id) for (acct_session_id,) in rows)
    return found


async def insert_sessions(session: AsyncSession, rows: list[tuple[Any, ...]]) -> None:
    """Tuples in SESSION_INSERT order; the times (SESSION_TIMES) as aware datetimes."""
    write = timestamp_writer(session)
    await _many(session, "insert_session", [_with_times(row, write) for row in rows])


async def update_sessions(session: AsyncSession, rows: list[tuple[Any, ...]]) -> int:
    """(status, ue_ip, bytes_up, bytes_down, packets_up, packets_down, terminate_cause, end, last_updated, sid, then
    the SESSION_GUARD values the row held when read). A row whose guard no longer matches (another writer changed it
    since) is left alone: returns how many rows were updated, for the caller to compare."""
    write = timestamp_writer(session)
    return await _many(session, "update_session", [(*r[:7], write(r[7]), write(r[8]), *r[9:]) for r in rows])


async def close_sessions_at(session: AsyncSession, nas_id: str, end: datetime, cause: str) -> Sequence[Any]:
    """Close every open session of one NAS (Accounting-On/Off: it restarted and holds none); returns them."""
    closed = (await session.execute(_OPEN_AT_NAS, {"nas_id": nas_id})).all()
    if closed:
        at = timestamp_writer(session)(end)
        await _many(session, "close_at_nas", [(CLOSED, at, at, cause, nas_id, OPEN)])
    return closed


async def add_usage(session: AsyncSession, rows: list[tuple[Any, ...]]) -> None:
    """Add bytes to hourly buckets: (account_sid, sim_sid, fleet_sid, network_sid, iso_country, hour, up, down)."""
    write = timestamp_writer(session)
    await _many(session, "add_usage", [(*r[:5], write(r[5]), r[6], r[7]) for r in rows])


async def add_period_usage(session: AsyncSession, growth: dict[str, int], now: datetime) -> dict[str, int]:
    """Add bytes to billing periods' data_used (by period sid); returns each period's new total."""
    if not growth:
        return {}
    at = timestamp_writer(session)(now)
    await _many(session, "add_period_usage", [(g, at, sid) for sid, g in growth.items()])
    rows = (await session.execute(_PERIOD_USAGE, {"ids": sorted(growth)})).all()
    return {sid: int(used) for sid, used in rows}


async def add_ready_bytes(session: AsyncSession, growth: dict[str, int], threshold: int) -> list[str]:
    """Add bytes toward the ready → active rule (by SIM sid, ready SIMs only); returns the SIMs now at `threshold`."""
    if not growth:
        return []
    await _many(session, "add_ready_bytes", [(g, sid) for sid, g in growth.items()])
    return list((await session.execute(_READY_AT, {"ids": sorted(growth), "threshold": threshold})).scalars())


async def insert_events(session: AsyncSession, rows: list[tuple[Any, ...]]) -> None:
    """Connection events, tuples in EVENT_INSERT order (the timestamp last, an aware datetime)."""
    if rows and _dialect(session) == "postgresql":
        write = Timestamps(text=True, json=True)
        driver = await _driver(session)
        await driver.execute(_PG_INSERT_EVENTS, json_rows([(*r[:-1], write(r[-1])) for r in rows]))
    else:
        write = timestamp_writer(session)
        await _many(session, "insert_event", [(*r[:-1], write(r[-1])) for r in rows])


# --- PostgreSQL: a segment's writes in one statement ------------------------------------------------------------------

# Each table's rows go as one JSON array of row arrays, read back by json_array_elements: json.dumps is one C call
# for the whole batch, where asyncpg's array encoding type-checks every element in Python (3x the client CPU, and
# 2x the server's, of a 256-row batch measured both ways). Timestamps travel as text, as on SQLite.
_PG_TYPES = {
    "bytes_up": "bigint", "bytes_down": "bigint", "packets_up": "bigint", "packets_down": "bigint",
    "error_code": "integer", "start": "timestamp", "end": "timestamp", "last_updated": "timestamp",
    "timestamp": "timestamp", "hour": "timestamp", "growth": "bigint",
}  # fmt: skip
_SESSION_UPDATE = (
    "status", "ue_ip", "bytes_up", "bytes_down", "packets_up", "packets_down", "terminate_cause", "end", "sid",
    *(f"was_{c}" for c in SESSION_GUARD),
)  # fmt: skip
_PG_TYPES |= {f"was_{c}": t for c, t in _PG_TYPES.items() if c in SESSION_GUARD}
_USAGE = ("account_sid", "sim_sid", "fleet_sid", "network_sid", "iso_country", "hour", "bytes_up", "bytes_down")


def _quoted(columns: Sequence[str]) -> str:
    return ", ".join(f'"{c}"' for c in columns)


def _rows(columns: Sequence[str], param: int) -> str:
    return jsonb_rows(columns, param, _PG_TYPES)


_PG_WRITE_SEGMENT = (
    f"WITH s_new AS (INSERT INTO data_sessions ({_quoted(SESSION_INSERT)}) {_rows(SESSION_INSERT, 1)}), "
    "s_old AS (UPDATE data_sessions AS d SET "
    + ", ".join(f'"{c}" = v."{c}"' for c in _SESSION_UPDATE[:8])
    + f", last_updated = $7::text::timestamp FROM ({_rows(_SESSION_UPDATE, 2)}) AS v WHERE d.sid = v.sid"
    + "".join(f' AND d."{c}" IS NOT DISTINCT FROM v."was_{c}"' for c in SESSION_GUARD)
    + " RETURNING d.sid), "
    f"usage AS (INSERT INTO usage_buckets ({_quoted(_USAGE)}, sms_to_sim, sms_from_sim, ip_to_sim, ip_from_sim) "
    f"SELECT *, 0, 0, 0, 0 FROM ({_rows(_USAGE, 3)}) AS v "
    "ON CONFLICT (sim_sid, hour, network_sid) DO UPDATE SET bytes_up = usage_buckets.bytes_up + excluded.bytes_up, "
    "bytes_down = usage_buckets.bytes_down + excluded.bytes_down), "
    "periods AS (UPDATE billing_periods AS b SET data_used = b.data_used + v.growth, "
    "date_updated = $7::text::timestamp "
    f"FROM ({_rows(('sid', 'growth'), 4)}) AS v WHERE b.sid = v.sid RETURNING b.sid, b.data_used), "
    "ready AS (UPDATE sims AS s SET ready_bytes = s.ready_bytes + v.growth "
    f"FROM ({_rows(('sid', 'growth'), 5)}) AS v WHERE s.sid = v.sid AND s.status = 'ready' "
    "RETURNING s.sid, s.ready_bytes), "
    f"events AS (INSERT INTO connection_events ({_quoted(EVENT_INSERT)}) {_rows(EVENT_INSERT, 6)}) "
    "SELECT false AS ready, sid, data_used AS bytes FROM periods "
    "UNION ALL SELECT true, sid, ready_bytes FROM ready WHERE ready_bytes >= $8::bigint "
    # Every guarded update applied, or the whole statement fails (see write_segment): a division by zero otherwise.
    "UNION ALL SELECT NULL, NULL, 1 / (count(*) = $9::bigint)::integer FROM s_old"
)
_PG_SESSIONS_AT = (
    "SELECT " + ", ".join(f'd."{c.name}"' for c in SESSION_COLUMNS) + " FROM data_sessions AS d "
    "JOIN unnest($1::text[], $2::text[]) AS k(nas_id, acct_session_id) "
    "ON d.nas_id = k.nas_id AND d.acct_session_id = k.acct_session_id FOR UPDATE OF d"
)
_PG_INSERT_EVENTS = f"INSERT INTO connection_events ({_quoted(EVENT_INSERT)}) {_rows(EVENT_INSERT, 1)}"


class StaleRows(RuntimeError):
    """A guarded update found its row changed since it was read (another node wrote it): nothing was written."""


async def _driver(session: AsyncSession, *, begin: bool = True) -> Any:
    """The asyncpg connection under the session's, inside the session's transaction.

    SQLAlchemy's asyncpg adapter opens its transaction lazily, at its first statement; a statement sent on the
    driver before that would run outside it (autocommitted), so the transaction is begun here first, unless
    `begin` is false and none is open: the statement then commits by itself.
    """
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    adapted = raw.dbapi_connection
    if begin and getattr(adapted, "_transaction", None) is None:
        start = getattr(adapted, "_start_transaction", None)
        if start is None:  # another SQLAlchemy version: begin through it (one extra round trip)
            await connection.exec_driver_sql("SELECT 1")
        else:
            async with adapted._execute_mutex:
                if adapted._transaction is None:
                    await start()
    return raw.driver_connection


async def write_segment(
    session: AsyncSession,
    inserts: list[tuple[Any, ...]],
    updates: list[tuple[Any, ...]],
    usage: list[tuple[Any, ...]],
    period_growth: dict[str, int],
    ready_growth: dict[str, int],
    events: list[tuple[Any, ...]],
    now: datetime,
    threshold: int,
    *,
    alone: bool = False,
) -> tuple[dict[str, int], list[str]]:
    """The writes of one batch segment: sessions (SESSION_INSERT tuples; update tuples as for update_sessions),
    hourly usage (add_usage), billing-period growth (add_period_usage), ready bytes (add_ready_bytes), connection
    events (insert_events). Returns each period's new data_used and the ready SIMs now at `threshold`.

    Raises StaleRows, having written nothing, if a guarded session update found its row changed. `alone`: the
    caller's transaction has nothing else to do; on PostgreSQL the statement then runs as a transaction of its own
    (one round trip instead of BEGIN, the statement, COMMIT), when no statement of the session has opened one.
    """
    if _dialect(session) != "postgresql":
        await insert_sessions(session, inserts)
        updated = await update_sessions(session, updates)
        if updated != len(updates):  # in the caller's transaction, which this rolls back
            raise StaleRows(f"{len(updates) - updated} of {len(updates)} sessions changed since they were read")
        await add_usage(session, usage)
        totals = await add_period_usage(session, period_growth, now)
        ready = await add_ready_bytes(session, ready_growth, threshold)
        await insert_events(session, events)
        return totals, ready
    import asyncpg  # the driver of PostgreSQL URLs (store/db.py); SQLite-only installs never get here

    write = Timestamps(text=True, json=True)
    driver = await _driver(session, begin=not alone)
    try:
        rows = await driver.fetch(
            _PG_WRITE_SEGMENT,
            json_rows([_with_times(row, write) for row in inserts]),
            json_rows([(*r[:7], write(r[7]), *r[9:]) for r in updates]),
            json_rows([(*r[:5], write(r[5]), r[6], r[7]) for r in usage]),
            json_rows(list(period_growth.items())),
            json_rows(list(ready_growth.items())),
            json_rows([(*r[:-1], write(r[-1])) for r in events]),
            write(now),
            threshold,
            len(updates),
        )
    except asyncpg.DivisionByZeroError:
        raise StaleRows(f"some of {len(updates)} sessions changed since they were read") from None
    totals = {row[1]: int(row[2]) for row in rows if row[0] is False}
    return totals, [row[1] for row in rows if row[0]]


def _with_times(row: tuple[Any, ...], write: Timestamps) -> tuple[Any, ...]:
    values = list(row)
    for at in SESSION_TIMES:
        values[at] = write(values[at])
    return tuple(values)
