"""Point reads on the database driver itself, for the hottest GETs (one SIM by sid or unique name).

Why: through SQLAlchemy's async engine a one-row read costs a pool checkout, a compiled-cache lookup, result
set-up and, on SQLite, four or more hand-offs to aiosqlite's thread: several times the query itself
(bench/RESULTS.md, API section). A `DirectReader` runs a Core statement, compiled once for the engine's
dialect, straight on the driver:

- SQLite: a read-only `sqlite3` connection used on the event loop. A primary-key lookup in a WAL database
  takes microseconds, less than one thread hand-off, and WAL readers do not wait for the writer. If the file
  is busy anyway (the log being reset), the read raises `DirectReadUnavailable` at once (busy timeout 0) and
  the caller takes its usual async path: the loop never waits on a lock.
- PostgreSQL: a few asyncpg connections of its own; asyncpg prepares and caches the statement.

The statement is the one the repository defines and values go through its column types' own result
processors, so the direct read and the SQLAlchemy path return the same values and cannot drift apart.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections import deque, namedtuple
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql import Select

from cellplane.store.db import asyncpg_dsn


class DirectReadUnavailable(Exception):
    """The driver cannot answer this read now or at all (SQLite busy, an expanding IN list): use SQLAlchemy."""


@dataclass(frozen=True)
class DirectStatement:
    """A Core SELECT compiled once: its SQL, its positional parameters, its row type and value processors."""

    sql: str
    parameter_names: tuple[str, ...]
    defaults: Mapping[str, Any]
    row_type: Callable[..., Any]
    processors: tuple[tuple[int, Callable[[Any], Any]], ...]

    @classmethod
    def compile(cls, statement: Select[Any], dialect: Dialect) -> DirectStatement:
        compiled = statement.compile(dialect=dialect)
        if "POSTCOMPILE" in compiled.string:
            raise DirectReadUnavailable("statements with expanding parameters are not compiled for direct reads")
        columns = list(statement.selected_columns)
        processors = []
        for index, column in enumerate(columns):
            processor = column.type.dialect_impl(dialect).result_processor(dialect, None)
            if processor is not None:
                processors.append((index, processor))
        return cls(
            sql=compiled.string,
            parameter_names=tuple(compiled.positiontup or ()),
            defaults=dict(compiled.params),
            row_type=namedtuple("DirectRow", [column.key for column in columns]),  # type: ignore[misc]
            processors=tuple(processors),
        )

    def arguments(self, params: Mapping[str, Any]) -> tuple[Any, ...]:
        return tuple(params[name] if name in params else self.defaults[name] for name in self.parameter_names)

    def row(self, values: Any) -> Any:
        values = list(values)
        for index, processor in self.processors:
            values[index] = processor(values[index])
        return self.row_type(*values)


class DirectReader:
    """Compiles each statement once for its dialect; subclasses run it on their driver."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self._compiled: dict[int, tuple[Select[Any], DirectStatement]] = {}

    def prepared(self, statement: Select[Any]) -> DirectStatement:
        # Keyed by identity: repositories build their hot statements once, at import.
        entry = self._compiled.get(id(statement))
        if entry is None or entry[0] is not statement:
            entry = self._compiled[id(statement)] = (statement, DirectStatement.compile(statement, self.dialect))
        return entry[1]

    async def first(self, statement: Select[Any], params: Mapping[str, Any]) -> Any | None:
        raise NotImplementedError

    async def close(self) -> None:
        return None


class SqliteDirectReader(DirectReader):
    """One read-only connection, used from the event loop's thread; opened on first use."""

    def __init__(self, dialect: Dialect, path: str) -> None:
        super().__init__(dialect)
        self.path = path
        self._connection: sqlite3.Connection | None = None

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(
            f"file:{self.path}?mode=ro", uri=True, isolation_level=None, check_same_thread=False
        )
        connection.execute("PRAGMA busy_timeout=0")
        self._connection = connection
        return connection

    async def first(self, statement: Select[Any], params: Mapping[str, Any]) -> Any | None:
        prepared = self.prepared(statement)
        try:
            connection = self._connection or self._connect()
            found = connection.execute(prepared.sql, prepared.arguments(params)).fetchone()
        except sqlite3.OperationalError as error:
            raise DirectReadUnavailable(str(error)) from error
        return None if found is None else prepared.row(found)

    async def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


class AsyncpgDirectReader(DirectReader):
    """Connections of its own, handed out from a deque.

    Why not asyncpg's Pool: its acquire/release machinery (timeouts, holders, a reset query on every release)
    doubled the CPU of a one-row read (53 against 25 us, 32 concurrent readers, same session). These
    connections only ever run single SELECTs outside a transaction, so there is no session state to reset;
    one that fails or is interrupted mid-query is closed rather than reused.
    """

    def __init__(self, dialect: Dialect, dsn: str, max_size: int = 16) -> None:
        super().__init__(dialect)
        self.dsn = dsn
        self.max_size = max_size
        self._idle: deque[Any] = deque()
        self._waiters: deque[asyncio.Future[Any]] = deque()
        self._open = 0
        self._closed = False

    async def _acquire(self) -> Any:
        if self._idle:
            return self._idle.popleft()
        if self._open < self.max_size:
            import asyncpg

            self._open += 1
            try:
                return await asyncpg.connect(self.dsn)
            except BaseException:
                self._open -= 1
                raise
        waiter: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            return await waiter
        except asyncio.CancelledError:
            # Cancelled after a connection was handed over: pass it on rather than lose it.
            if waiter.done() and not waiter.cancelled():
                self._release(waiter.result())
            raise

    def _release(self, connection: Any) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(connection)
                return
        self._idle.append(connection)

    def _discard(self, connection: Any) -> None:
        self._open -= 1
        connection.terminate()

    async def first(self, statement: Select[Any], params: Mapping[str, Any]) -> Any | None:
        if self._closed:
            raise DirectReadUnavailable("the reader is closed")
        prepared = self.prepared(statement)
        connection = await self._acquire()
        try:
            found = await connection.fetchrow(prepared.sql, *prepared.arguments(params))
        except BaseException:
            self._discard(connection)
            raise
        self._release(connection)
        return None if found is None else prepared.row(found.values())

    async def close(self) -> None:
        self._closed = True
        while self._idle:
            await self._idle.popleft().close()
            self._open -= 1


def direct_reader(engine: AsyncEngine) -> DirectReader | None:
    """The engine's direct reader, or None where there is none (in-memory SQLite, other drivers)."""
    url = engine.url
    if url.get_backend_name() == "sqlite":
        if not url.database or url.database == ":memory:" or url.database.startswith("file:"):
            return None
        return SqliteDirectReader(engine.dialect, url.database)
    if url.get_backend_name() == "postgresql" and url.get_driver_name() == "asyncpg":
        return AsyncpgDirectReader(engine.dialect, asyncpg_dsn(url))
    return None
