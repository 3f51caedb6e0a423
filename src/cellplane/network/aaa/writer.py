"""Group commit: Accounting-Requests are collected for a few milliseconds, applied in one transaction, and only
then answered, so that an acknowledged packet is durable (RFC 2866 §2: the NAS retransmits until answered).

While one batch is in the database the next one gathers, so batches grow with the load and the cost of a
transaction is shared by everything that arrived meanwhile. Queued connection events (attach decisions,
disconnect outcomes) ride along with the next batch, or are written on their own every `event_interval`;
the Access path never waits for any of it.

The sessions a batch leaves open are remembered (data_sessions.KnownSessions): their next Interim-Update or Stop
needs no read. A batch that fails is retried once (a lock or serialization conflict, or a remembered session that
another node changed meanwhile: the retry reads every session from the database), then split in halves to isolate a
record the database refuses; such a record is not answered and the NAS's retransmission tries it again.
When the database itself is unreachable nothing is answered: the requests and events stay queued and the batch is
tried again every `retry_pause` (the NAS's retransmissions of them meanwhile are dropped as duplicates pending), so
that they are answered as soon as the database is back rather than at each NAS's next retransmission. On
PostgreSQL the writer's own connection notices a lost database within about a second (store/db.py,
`watched_engine`: connect timeout, TCP_USER_TIMEOUT and keepalives, idle transactions ended by the server): a
partition or a dead primary never leaves it waiting on TCP's retransmission backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.exc import DBAPIError, InterfaceError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from cellplane.domain.policy import SimPolicy
from cellplane.services import data_sessions
from cellplane.services.accounting_records import AccountingRecord, BatchEffects, NetworkEvent
from cellplane.store.db import watched_engine
from cellplane.store.driver_sql import discard

from . import metrics

log = logging.getLogger("cellplane.aaa.writer")

# (record or None for a request we only acknowledge, the request to answer or None for an internal record)
Item = tuple[AccountingRecord | None, Any]
_MAX_QUEUED_EVENTS = 200_000
# Requests held while the database is unreachable; past this the oldest are let go (a retransmission is processed
# afresh), so that a long outage costs bounded memory.
_MAX_HELD = 200_000


class AccountingWriter:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        policies: Callable[[], Mapping[str, SimPolicy]],
        on_effects: Callable[[BatchEffects], None],
        acknowledge: Callable[[list[Any]], None],
        abandon: Callable[[list[Any]], None],
        clock: Callable[[], datetime],
        *,
        announce: Callable[[datetime], None] = lambda now: None,
        linger: float = 0.002,
        batch_max: int = 2000,
        event_interval: float = 0.25,
        retry_pause: float = 0.1,
    ) -> None:
        self._sessions = sessions
        self._policies = policies
        self._on_effects = on_effects
        self._acknowledge = acknowledge
        self._abandon = abandon
        self._clock = clock
        self._announce = announce
        self.linger = linger
        self.batch_max = batch_max
        self.event_interval = event_interval
        self._items: list[Item] = []
        self._events: list[NetworkEvent] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._connection: AsyncConnection | None = None
        self._engine: AsyncEngine | None = None  # the writer's own (store/db.py watched_engine)
        self.retry_pause = retry_pause
        self._down = False  # the last batch found the database unreachable: pause before the next try
        self.known = data_sessions.KnownSessions()
        self.batches = 0

    def submit(self, record: AccountingRecord | None, request: Any) -> None:
        """Queue one Accounting-Request; `acknowledge` is called with it once its batch has committed."""
        self._items.append((record, request))
        if len(self._items) == 1:
            self._wake.set()

    def add_event(self, event: NetworkEvent) -> None:
        events = self._events
        if len(events) >= _MAX_QUEUED_EVENTS:
            return  # the database is gone for long: shed the oldest kind of data we hold, not memory
        events.append(event)
        if len(events) >= self.batch_max:
            self._wake.set()

    @property
    def backlog(self) -> int:
        return len(self._items)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="aaa-accounting-writer")

    async def stop(self) -> None:
        """Write what is queued, then stop."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._release()
        if self._engine is not None and self._engine is not self._sessions.kw.get("bind"):
            await self._engine.dispose()
        self._engine = None

    async def _run(self) -> None:
        while True:
            if not self._items:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.event_interval)
            self._wake.clear()
            if self._down and not self._stopping:
                await asyncio.sleep(self.retry_pause)
            if self._items and self.linger > 0 and len(self._items) < self.batch_max and not self._stopping:
                await asyncio.sleep(self.linger)
            if self._items or self._events:
                await self.flush()
            if self._stopping and not self._items:
                if self._events:
                    await self.flush()
                return

    async def flush(self) -> None:
        """Apply one batch: up to `batch_max` queued requests and every queued event."""
        items = self._items[: self.batch_max]
        del self._items[: len(items)]
        events, self._events = self._events, []
        metrics.BATCH_SIZE.observe(len(items))
        if not await self._commit(items, events, retry=True):
            metrics.BATCH_FAILURES.inc()

    async def _commit(self, items: list[Item], events: list[NetworkEvent], *, retry: bool) -> bool:
        records = [record for record, _ in items if record is not None]
        now = self._clock()
        # Before the commit: a poll that reads the database between our commit and our effects must know this
        # batch's stamp on the billing periods it touches is ours.
        self._announce(now)
        try:
            async with await self._session() as session, session.begin():
                effects = await data_sessions.apply_batch(
                    session, records, events, self._policies(), now, self.known, optimistic=retry
                )
        except Exception as error:
            await self._release()
            self.known.clear()  # the retry reads every session from the database
            if _unreachable(error) and not self._stopping:
                if not self._down:
                    log.warning("accounting batch of %d held, the database is unreachable: %r", len(items), error)
                self._down = True
                self._requeue_events(events)
                self._hold(items)
                return False
            if self._stopping:
                self._requeue_events(events)
                self._abandon([request for _, request in items if request is not None])
                return False
            if retry:
                return await self._commit(items, events, retry=False)
            if len(items) <= 1:
                if items:
                    log.exception("accounting record refused by the database, left unanswered: %r", items[0][0])
                    self._abandon([request for _, request in items if request is not None])
                    if events:
                        await self._commit([], events, retry=False)
                else:
                    log.exception("%d connection events refused by the database, dropped", len(events))
                return False
            half = len(items) // 2
            first = await self._commit(items[:half], events, retry=False)
            second = await self._commit(items[half:], [], retry=False)
            return first and second
        self.batches += 1
        if self._down:
            log.warning("accounting batches written again")
            self._down = False
        self.known.commit(effects.session_rows.items())
        try:
            self._on_effects(effects)
        except Exception:
            log.exception("applying accounting effects to the AAA's memory failed")
        self._acknowledge([request for _, request in items if request is not None])
        return True

    async def _session(self) -> AsyncSession:
        """A session on the writer's own connection, kept from batch to batch: checking one out of the pool per
        batch cost PostgreSQL's pre-ping (BEGIN, a statement, ROLLBACK: three round trips) every time."""
        engine = self._sessions.kw.get("bind")
        if not isinstance(engine, AsyncEngine):
            return self._sessions()
        if self._connection is None:
            if self._engine is None:
                self._engine = watched_engine(engine)
            connection = await self._engine.connect()
            try:
                await data_sessions.prepare_writer_connection(connection)
            except BaseException:
                await discard(connection)
                raise
            self._connection = connection
        return self._sessions(bind=self._connection)

    async def _release(self) -> None:
        """Drop the connection (after a failure: the next batch checks a fresh one out, pinged by the pool). Not
        given back to the pool: it carries the writer's own session setting (prepare_writer_connection)."""
        connection, self._connection = self._connection, None
        if connection is not None:
            await discard(connection)

    def _hold(self, items: list[Item]) -> None:
        """Put a batch the database did not take back at the front of the queue, to be tried again."""
        self._items[:0] = items
        if len(self._items) > _MAX_HELD:
            let_go = self._items[: len(self._items) - _MAX_HELD]
            del self._items[: len(let_go)]
            self._abandon([request for _, request in let_go if request is not None])

    def _requeue_events(self, events: list[NetworkEvent]) -> None:
        room = _MAX_QUEUED_EVENTS - len(self._events)
        if room > 0:
            self._events[:0] = events[:room]


def _unreachable(error: Exception) -> bool:
    """A lost or refused connection, as opposed to a statement the database refused."""
    if isinstance(error, OSError | ConnectionError | InterfaceError):
        return True
    return isinstance(error, DBAPIError) and bool(error.connection_invalidated)
