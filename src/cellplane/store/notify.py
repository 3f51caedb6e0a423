"""Change notifications on PostgreSQL (issue 21): a write to a SIM, fleet, rate plan, Things group or network access
profile sends `NOTIFY cellplane_changes, '<kind>:<id> ...'` from the writing transaction, and each AAA node LISTENs
and re-reads those entries at once. A new job sends `job:<job kind>`, so that the workers of another node claim it
at once (an API node's request schedules a SIM update that a workers node completes).

A wake-up, not the record of truth: PostgreSQL delivers a notification only when (and if) its transaction commits,
to the sessions listening at that moment; a listener that was disconnected misses it. The AAA's poll of changed rows
stays the guarantee (network/aaa/refresher.py), and a listener that reconnects polls once at once.

Sent from the application, not from a trigger: a trigger's NOTIFY would stop a move to Citus (its workers would
send it, tests/unit/test_citus_readiness.py). The session sends it after each flush (rows the unit of work wrote)
and before each UPDATE or DELETE statement on a watched table (the keys its WHERE names by equality or IN; a
statement whose keys cannot be read sends `<kind>:*`, which the listener answers with a poll). Writes that go
around the ORM session (store/driver_sql.py) send nothing: the poll catches them within its interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from itertools import chain
from typing import Any

from sqlalchemy import Column, event, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import ORMExecuteState, Session
from sqlalchemy.sql import operators, visitors
from sqlalchemy.sql.elements import BinaryExpression, BindParameter

from cellplane.store.db import asyncpg_dsn
from cellplane.store.models import (
    Fleet,
    Job,
    NetworkAccessProfile,
    NetworkAccessProfileNetwork,
    RatePlan,
    Sim,
    ThingsGroup,
)

log = logging.getLogger("cellplane.store")

CHANNEL = "cellplane_changes"
ALL = "*"
# PostgreSQL's limit on a payload is 8000 bytes; a flush that touches more keys than this sends `<kind>:*`.
_PAYLOAD_BYTES = 7000
_MAX_KEYS = 200

# table -> (kind, the column that names the entry the AAA re-reads)
WATCHED: dict[str, tuple[str, Column[Any]]] = {
    Sim.__table__.name: ("sim", Sim.__table__.c.sid),  # type: ignore[attr-defined]
    Fleet.__table__.name: ("fleet", Fleet.__table__.c.sid),  # type: ignore[attr-defined]
    RatePlan.__table__.name: ("rate_plan", RatePlan.__table__.c.sid),  # type: ignore[attr-defined]
    ThingsGroup.__table__.name: ("group", ThingsGroup.__table__.c.sid),  # type: ignore[attr-defined]
    NetworkAccessProfile.__table__.name: ("profile", NetworkAccessProfile.__table__.c.sid),  # type: ignore[attr-defined]
    NetworkAccessProfileNetwork.__table__.name: (
        "profile",
        NetworkAccessProfileNetwork.__table__.c.network_access_profile_sid,  # type: ignore[attr-defined]
    ),
}
POLICY_KINDS = frozenset(kind for kind, _ in WATCHED.values())
# A job added (its kind as the key): runners on other nodes claim it at once instead of at their next poll.
JOB = "job"
# IP Commands made due for the gateway holding their SIM's session (store/repositories/ip_commands.release).
IP_COMMAND = "ip_command"
KINDS = POLICY_KINDS | {JOB, IP_COMMAND}

Key = tuple[str, str]


class NotifyingSession(Session):
    """The ORM session on PostgreSQL: every write to a watched table also notifies CHANNEL (see the module)."""


@event.listens_for(NotifyingSession, "after_flush")
def _after_flush(session: Session, _context: Any) -> None:
    keys: set[Key] = {(JOB, job.kind) for job in session.new if isinstance(job, Job)}
    for instance in chain(session.new, session.dirty, session.deleted):
        table = getattr(type(instance), "__table__", None)
        watched = WATCHED.get(table.name) if table is not None else None
        if watched is not None:
            value = getattr(instance, watched[1].key, None)
            if value:
                keys.add((watched[0], str(value)))
    if keys:
        send(session.connection(), keys)


@event.listens_for(NotifyingSession, "do_orm_execute")
def _before_statement(state: ORMExecuteState) -> None:
    if not (state.is_update or state.is_delete):
        return
    table = getattr(state.statement, "table", None)
    watched = WATCHED.get(getattr(table, "name", ""))
    if watched is None:
        return
    kind, column = watched
    values = keys_named(getattr(state.statement, "whereclause", None), column, state.parameters)
    send(state.session.connection(), {(kind, value) for value in values} if values else {(kind, ALL)})


def keys_named(where: Any, column: Column[Any], parameters: Any) -> set[str]:
    """The values a WHERE clause gives `column` by `=` or `IN` (empty: it names none we can read)."""
    found: set[str] = set()
    if where is None:
        return found
    for element in visitors.iterate(where):
        if not isinstance(element, BinaryExpression) or not _is(element.left, column):
            continue
        if element.operator not in (operators.eq, operators.in_op) or not isinstance(element.right, BindParameter):
            continue
        bind = element.right
        value = bind.value
        if value is None and isinstance(parameters, dict):
            value = parameters.get(bind.key)
        if value is None:
            return set()
        found.update(str(v) for v in (value if isinstance(value, list | tuple | set) else [value]))
    return found


def _is(expression: Any, column: Column[Any]) -> bool:
    """Whether `expression` is `column` (ORM attributes give an annotated copy of it, not the column itself)."""
    table = getattr(expression, "table", None)
    return getattr(expression, "name", None) == column.name and getattr(table, "name", None) == column.table.name


def payloads(keys: Iterable[Key]) -> list[str]:
    """`kind:id` words, space-separated, cut under PostgreSQL's payload limit; too many of a kind become `kind:*`."""
    by_kind: dict[str, set[str]] = {}
    for kind, value in keys:
        by_kind.setdefault(kind, set()).add(value)
    words: list[str] = []
    for kind, values in sorted(by_kind.items()):
        if ALL in values or len(values) > _MAX_KEYS:
            words.append(f"{kind}:{ALL}")
        else:
            words.extend(f"{kind}:{value}" for value in sorted(values))
    out: list[str] = []
    current = ""
    for word in words:
        if current and len(current) + 1 + len(word) > _PAYLOAD_BYTES:
            out.append(current)
            current = ""
        current = f"{current} {word}" if current else word
    if current:
        out.append(current)
    return out


def send(connection: Connection, keys: Iterable[Key]) -> None:
    """NOTIFY in the caller's transaction: delivered when it commits, never if it rolls back."""
    for payload in payloads(keys):
        connection.execute(text("SELECT pg_notify(:channel, :payload)"), {"channel": CHANNEL, "payload": payload})


def parse(payload: str) -> set[Key]:
    """The keys of a payload; words of unknown kinds (a newer node's) are ignored."""
    keys: set[Key] = set()
    for word in payload.split():
        kind, _, value = word.partition(":")
        if kind in KINDS and value:
            keys.add((kind, value))
    return keys


def listen_dsn(engine: AsyncEngine | None) -> str | None:
    """The asyncpg DSN to LISTEN on, for an engine on PostgreSQL over asyncpg; None for any other."""
    if engine is None or engine.url.get_backend_name() != "postgresql" or engine.url.get_driver_name() != "asyncpg":
        return None
    return asyncpg_dsn(engine.url)


class ChangeListener:
    """LISTEN on CHANNEL over a connection of its own; hands the keys to `on_changes` (batched while it runs), and
    calls `on_reconnect` after a reconnection (what was sent meanwhile is lost: the caller polls)."""

    def __init__(
        self,
        dsn: str,
        on_changes: Callable[[set[Key]], Awaitable[None]],
        on_reconnect: Callable[[], Awaitable[None]],
        *,
        kinds: frozenset[str] = KINDS,
        keepalive: float = 10.0,
    ) -> None:
        self.dsn = dsn
        self.kinds = kinds
        self.on_changes = on_changes
        self.on_reconnect = on_reconnect
        self.keepalive = keepalive
        self.received = 0
        self.connected = asyncio.Event()
        self._pending: set[Key] = set()
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._listen(), name="change-listener"),
            asyncio.create_task(self._deliver(), name="change-delivery"),
        ]
        # The first connection before the AAA answers, when it can be made quickly; else it keeps trying.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.connected.wait(), 5)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    def _notified(self, _connection: Any, _pid: int, _channel: str, payload: str) -> None:
        self.received += 1
        keys = {key for key in parse(payload) if key[0] in self.kinds}
        if keys:
            self._pending |= keys
            self._wake.set()

    async def _deliver(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            keys, self._pending = self._pending, set()
            if keys:
                try:
                    await self.on_changes(keys)
                except Exception:
                    log.exception("acting on %d change notifications failed; the poll catches up", len(keys))

    async def _listen(self) -> None:
        import asyncpg

        delay, first = 0.5, True
        while True:
            connection = None
            try:
                connection = await asyncpg.connect(self.dsn, timeout=10)
                lost = asyncio.Event()
                connection.add_termination_listener(lambda _c, lost=lost: lost.set())
                await connection.add_listener(CHANNEL, self._notified)
                self.connected.set()
                if not first:
                    log.info("change notifications: listening again; polling for what was missed")
                    await self.on_reconnect()
                first, delay = False, 0.5
                while not lost.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(lost.wait(), self.keepalive)
                    if not lost.is_set():  # a connection that died without a FIN shows only when used
                        await asyncio.wait_for(connection.fetchval("SELECT 1"), self.keepalive)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("change notifications: connection lost (%s); again in %.1f s", error, delay)
            finally:
                self.connected.clear()
                if connection is not None and not connection.is_closed():
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(connection.close(), 2)
            first = False
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)
