"""Batch writes as plain SQL on the driver: one statement, a list of tuples, values already in the driver's form.

Why: a Core executemany runs every row's parameters through SQLAlchemy's bind processors (a TypeDecorator and
the dialect's DATETIME formatting per timestamp, a dict per row), about 40 us a row on the hottest batch writes
(accounting, the IP Command outbox; bench/RESULTS.md). A batch writes the same `now` many times, so converting it
once (`Timestamps`) and handing tuples to `exec_driver_sql` leaves the driver's own work only. The SQL is written
with qmark placeholders (SQLite's) and numbered for asyncpg.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from functools import cache
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection


def insert_sql(table: str, columns: Sequence[str]) -> str:
    names = ", ".join(f'"{c}"' for c in columns)
    return f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' * len(columns))})"


@cache
def for_dialect(sql: str, dialect: str) -> str:
    """qmark placeholders to $1, $2 ... on PostgreSQL (asyncpg's); no statement given here has a literal "?"."""
    if dialect != "postgresql":
        return sql
    numbers = iter(range(1, 100_000))
    return re.sub(r"\?", lambda _: f"${next(numbers)}", sql)


def jsonb_rows(columns: Sequence[str], param: int, types: Mapping[str, str]) -> str:
    """PostgreSQL: a SELECT of the rows in JSON parameter `param` (an array of row arrays), each column cast to its
    type in `types` (text otherwise). Batch statements take a table's rows as one such parameter: json.dumps is one
    C call for the whole batch, where asyncpg's array encoding type-checks every element in Python."""
    fields = ", ".join(f'(r->>{i})::{types.get(c, "text")} AS "{c}"' for i, c in enumerate(columns))
    return f"SELECT {fields} FROM jsonb_array_elements(${param}::jsonb) AS r"


def json_rows(rows: Sequence[Any]) -> str:
    """The JSON parameter for `jsonb_rows`."""
    return json.dumps(rows, ensure_ascii=False, separators=(",", ":"), check_circular=False)


async def execute_many(connection: AsyncConnection, sql: str, rows: Sequence[tuple[Any, ...]]) -> int:
    """Run qmark `sql` once per row in the connection's transaction; returns the rows it changed."""
    if not rows:
        return 0
    statement = for_dialect(sql, connection.dialect.name)
    return (await connection.exec_driver_sql(statement, list(rows))).rowcount


async def fetch_all(connection: AsyncConnection, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    """The rows of qmark `sql` as the driver returns them (no type processing: for text and integer columns)."""
    statement = for_dialect(sql, connection.dialect.name)
    driver = await autocommit_driver(connection)
    if driver is not None:
        return [tuple(row) for row in await driver.fetch(statement, *params)]
    return [tuple(row) for row in await connection.exec_driver_sql(statement, params)]


async def autocommit_driver(connection: AsyncConnection) -> Any | None:
    """The asyncpg connection under a PostgreSQL connection in AUTOCOMMIT, else None.

    Every statement on such a connection is its own transaction, so running it on the driver directly changes
    nothing but the cost: SQLAlchemy's cursor and result set-up was most of a small batch statement's CPU. (Inside
    a transaction the driver must not be used behind SQLAlchemy's back: its BEGIN is sent lazily.)"""
    if connection.dialect.name != "postgresql":
        return None
    sync = connection.sync_connection
    if sync is None or sync.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
        return None
    return (await connection.get_raw_connection()).driver_connection


async def plan_every_statement(connection: AsyncConnection) -> None:
    """Have PostgreSQL plan every statement on this connection (a batch writer's own) for its parameters and the
    tables' sizes as they are now, instead of reusing a generic plan. A session setting, for the connection's
    life: the caller must not give the connection back to the pool (`discard` it).

    A prepared statement's generic plan is kept until the tables' statistics change: one made while a table was
    small (a fresh database) joins a batch's rows to it by a sequential scan, and went on doing so as it grew to
    20,000 accounting sessions, with autovacuum off or not yet come by: a 135-row batch took 11 ms instead of 2
    (bench/RESULTS.md, Network: RADIUS). Planning a batch statement costs ~0.5 ms of the database's CPU.
    """
    if connection.dialect.name != "postgresql":
        return
    raw = await connection.get_raw_connection()
    if getattr(raw.dbapi_connection, "_transaction", None) is not None:
        raise RuntimeError("plan_every_statement: a transaction is open; the setting must outlive it")
    await raw.driver_connection.execute("SET plan_cache_mode = force_custom_plan")


async def discard(connection: AsyncConnection) -> None:
    """Close a connection for good (invalidated: the pool opens a new one rather than reuse it)."""
    with contextlib.suppress(Exception):
        await connection.invalidate()
    with contextlib.suppress(Exception):
        await connection.close()


class Timestamps:
    """Aware datetimes to what the driver stores for a UtcDateTime column: naive UTC for asyncpg, SQLAlchemy's text
    form on SQLite and in the JSON of PostgreSQL's batch statements (`json`: naive ones, as asyncpg reads them, too).
    A batch writes the same few times (its `now`, a deadline) many times: the last one is recognized by identity,
    a few more by value. Anything else (None, or a value read raw from SQLite) passes through unchanged."""

    __slots__ = ("_json", "_last", "_last_value", "_seen", "_text")

    def __init__(self, text: bool, json: bool = False) -> None:
        self._text = text or json
        self._json = json
        self._last: datetime | None = None
        self._last_value: Any = None
        self._seen: dict[datetime, Any] = {}

    @classmethod
    def for_dialect(cls, dialect: str) -> Timestamps:
        return cls(text=dialect != "postgresql")

    def __call__(self, moment: Any) -> Any:
        if moment is self._last:
            return self._last_value
        if not isinstance(moment, datetime):
            return moment
        if moment.tzinfo is None:
            return moment.isoformat(" ", "microseconds") if self._json else moment
        value = self._seen.get(moment)
        if value is None:
            naive = (moment if moment.tzinfo is UTC else moment.astimezone(UTC)).replace(tzinfo=None)
            # SQLAlchemy's SQLite DATETIME storage format ("2025-01-31 12:00:00.000000"), microseconds always.
            value = naive.isoformat(" ", "microseconds") if self._text else naive
            if len(self._seen) >= 64:
                self._seen.clear()
            self._seen[moment] = value
        self._last, self._last_value = moment, value
        return value
