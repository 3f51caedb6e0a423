"""IP Commands to SIMs from 201 to `sent`: group commit of new commands, delivery at once, outcomes in batches.

Why (bench/RESULTS.md, Commands): a command used to cost an ORM request transaction plus three job transactions
(claim, deliver, finish), ~7 ms of CPU. Here the `queued` row itself is the durable work item (the outbox is the
commands table, no job row per command), and one task does all the writing:

- A request checks its parameters and hands the command to `submit` and waits. The task looks up the SIMs of
  everything pending in one query, inserts the commands to SIMs that may take them in ONE transaction
  (executemany), and resolves each request's future after the commit (or with its 4xx): a 201 always names a
  durable row. While one batch is in the database the next one gathers, so batches grow with the load. On
  PostgreSQL it leaves as soon as that commit returns, before the committed batch is answered: the server answers
  one batch while the database writes the next. (Answering first left the server idle during every commit: under
  wrk all 32 connections fell into one batch, the server's CPU 80% busy.) The request itself touches no database
  connection.
- Right after that commit the new commands are sent through the transport (the local gateway's tunnel; paging
  an idle device and eDRX/HLCOM buffering or loss happen further on, as before) by a delivery task of their own,
  in order, once the 201s are on their way: the next batch goes to the database while this one is sent (the
  platform's CPU and the database's work overlap). Outcomes, `sent` or `failed` with its code, are recorded in a
  later transaction, with the callback webhook (and its job) of each command that has a CallbackUrl, and with the
  next batch's new commands (waiting up to `settle_linger` for them).
- Each row carries `dispatch_at`: until then it belongs to the process that accepted it (a short lease), or it
  waits for paced dispatch (CELLPLANE_IP_COMMAND_DELAY). A recovery sweep, at start-up and every
  `sweep_interval`, claims queued commands past it and sends them the same way, so a kill -9 between the 201 and
  `sent` loses nothing.

Several nodes (issue 21, `route`): a command reaches the gateway that holds its SIM's session through the database,
never over HTTP between nodes. A node with no gateway leaves what it accepts queued and due at once, and a
NOTIFY (kind `ip_command`) wakes the gateway nodes' sweeps; each gateway node claims only commands to SIMs that no
other live gateway holds a session of (sessions carry their gateway's NAS-Identifier; a live gateway holds its
lease). A gateway node that finds the SIM attached elsewhere releases the command the same way instead of
failing it; one attached nowhere is failed (83400) by whichever gateway node claims it.

At least once, like the job it replaces: a crash between handing a datagram to the tunnel and the commit of its
outcome sends it again after the restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from cellplane.domain import ip_commands as rules
from cellplane.domain import lifecycle
from cellplane.domain.errors import CellplaneError, Conflict
from cellplane.services.context import PlatformContext
from cellplane.services.ip_commands import NewIpCommand, Outgoing, callback_values, command_for, settle, sims_for
from cellplane.services.transport import CommandTransport, DeliveryOutcome, IpDelivery
from cellplane.store.driver_sql import discard
from cellplane.store.notify import IP_COMMAND, ChangeListener, listen_dsn
from cellplane.store.repositories import ip_commands as repo
from cellplane.store.repositories.ip_commands import CommandSim

log = logging.getLogger("cellplane.commands")


class OutboxStopped(RuntimeError):
    """A command submitted while the platform shuts down: it was not written (the request fails, nothing half-done)."""


class IpCommandOutbox:
    """The writer and dispatcher of IP Commands to SIMs (a component: started after the gateway, stopped before)."""

    # Batches in the database at once, each on a connection of its own. SQLite has one writer; on PostgreSQL two
    # or three in flight measured no faster (smaller batches cost more CPU a command; bench/RESULTS.md, Commands).
    concurrency = 1
    # Commands the delivery task sends between two turns of the event loop.
    delivery_slice = 8

    def __init__(
        self,
        ctx: PlatformContext,
        transport: CommandTransport | None,
        *,
        lease: float = 5.0,
        sweep_interval: float = 1.0,
        batch_max: int = 1000,
        sweep_batch: int = 500,
        settle_linger: float = 0.02,
        route: bool = False,
        nas_id: str | None = None,
    ) -> None:
        self.ctx = ctx
        # Several nodes: commands go to the gateway holding the SIM's session (the module's docstring); `nas_id`
        # is this node's gateway.
        self.route = route
        self.nas_id = nas_id if transport is not None else None
        self.listener: ChangeListener | None = None
        self.transport = transport  # None: no gateway in this process, commands fail with 83400
        self.lease = lease
        self.sweep_interval = sweep_interval
        self.batch_max = batch_max
        self.sweep_batch = sweep_batch
        self.settle_linger = settle_linger
        self.batches = 0
        self.swept = 0
        self._new: list[tuple[str, NewIpCommand, asyncio.Future[Outgoing]]] = []
        self._settled: list[Outgoing] = []
        self._held: set[str] = set()  # sent here, outcome not yet committed: the sweep must not send them again
        self._outbound: list[list[Outgoing]] = []  # committed batches waiting for the delivery task, in order
        self._delivering: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._next_sweep = 0.0
        self._settle_by = 0.0  # when outcomes waiting alone for a batch go on their own
        self._flushing: set[asyncio.Task[bool]] = set()  # batches in the database
        # Start the next batch before answering this one: where the database works in a process of its own.
        self._overlap = ctx.engine is not None and ctx.engine.dialect.name == "postgresql"
        self._failures = 0
        self._retry_at = 0.0  # after a failed batch: the database is struggling, do not spin
        self._idle: list[AsyncConnection] = []  # connections kept from batch to batch
        self._idle_autocommit: list[AsyncConnection] = []
        # SIMs by (account, the `Sim` a request gave), as last read: PostgreSQL's batch statement checks each one
        # as it writes (repo.write_commands), so a warm batch needs no lookup.
        self._sim_cache: dict[tuple[str, str], CommandSim] = {}
        self.sim_cache_size = 100_000

    # --- requests ---------------------------------------------------------------------------------------------

    async def submit(self, account_sid: str, request: NewIpCommand) -> Outgoing:
        """Write a new command of this account (already `check`ed); returns it, as committed, once its row is
        durable. The SIM is looked up with the batch; an unknown or unreachable SIM raises its 4xx here."""
        if self._task is None or self._stopping:
            raise OutboxStopped("IP Commands are not being accepted: the platform is stopping")
        future: asyncio.Future[Outgoing] = asyncio.get_running_loop().create_future()
        self._new.append((account_sid, request, future))
        if len(self._new) == 1:
            self._wake.set()
        return await future

    # --- lifecycle --------------------------------------------------------------------------------------------

    async def start(self) -> None:
        self._stopping = False
        self._next_sweep = 0.0  # sweep at once: commands a previous process left queued
        self._task = asyncio.create_task(self._run(), name="ip-command-outbox")
        dsn = listen_dsn(self.ctx.engine) if self.route and self.transport is not None else None
        if dsn is not None:
            self.listener = ChangeListener(dsn, self._released, self._released_missed, kinds=frozenset({IP_COMMAND}))
            await self.listener.start()

    async def _released(self, _keys: set[tuple[str, str]]) -> None:
        """Another node released commands (store/repositories/ip_commands.release): sweep now."""
        self._next_sweep = 0.0
        self._wake.set()

    async def _released_missed(self) -> None:
        await self._released(set())

    async def stop(self, timeout: float = 5.0) -> None:
        """Write and send what was accepted, record the outcomes, then stop (bounded wait)."""
        if self.listener is not None:
            await self.listener.stop()
            self.listener = None
        if self._task is None:
            return
        self._stopping = True
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout)
        except TimeoutError:
            log.warning("IP Command outbox stopped with %d outcomes unrecorded", len(self._settled))
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._task = None
        for task in [*self._flushing, *([self._delivering] if self._delivering else [])]:
            task.cancel()
        await self._close_connections()

    # --- the task ---------------------------------------------------------------------------------------------

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            self._wake.clear()
            now = loop.time()
            # Outcomes ride with the next new commands; alone, they wait `settle_linger` for some (one transaction
            # a command instead of two at moderate rates), or go at once when stopping.
            self._fill(now)
            if self._stopping and not (self._flushing or self._delivering or self._new or self._settled):
                return
            if not self._stopping and now >= self._next_sweep:
                self._next_sweep = now + self.sweep_interval
                await self._sweep()
                continue
            # Wait for a request, a batch that finishes (both wake us), or a deadline: the sweep, outcomes due on
            # their own, the end of a back-off. At full concurrency only a finishing batch makes room.
            until = self._next_sweep
            if len(self._flushing) < self.concurrency and (self._new or self._settled):
                until = min(until, self._retry_at if now < self._retry_at else self._settle_by)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), max(0.0, until - loop.time()))

    def _fill(self, now: float) -> None:
        """Start batches while the concurrency allows and something is due."""
        while len(self._flushing) < self.concurrency and now >= self._retry_at and self._due(now):
            self._start_flush()

    def _due(self, now: float) -> bool:
        return bool(self._new) or (bool(self._settled) and (self._stopping or now >= self._settle_by))

    def _start_flush(self) -> None:
        """Take what is pending and write it in a task of its own (the batch leaves the queues at once, so the
        next flush, if the concurrency allows one, takes only what arrives after)."""
        new = self._new[: self.batch_max]
        del self._new[: len(new)]
        settled, self._settled = self._settled, []
        task = asyncio.create_task(self._flush(new, settled))
        self._flushing.add(task)
        task.add_done_callback(self._flushed)

    def _flushed(self, task: asyncio.Task[bool]) -> None:
        self._flushing.discard(task)
        error = None if task.cancelled() else task.exception()
        if error is not None:
            log.error("IP Command batch failed after its commit", exc_info=error)
        ok = not task.cancelled() and error is None and task.result()
        if ok:
            self._failures = 0
        else:
            self._failures += 1
            self._retry_at = asyncio.get_running_loop().time() + min(2.0, 0.05 * 2**self._failures)
        self._wake.set()

    async def _flush(
        self, new: list[tuple[str, NewIpCommand, asyncio.Future[Outgoing]]], settled: list[Outgoing]
    ) -> bool:
        """One transaction: new commands checked against their SIMs and inserted, previous outcomes and their
        callbacks recorded; then the new commands are sent."""
        error: Exception | None = None
        for _ in range(2):  # once more on a lock or serialization conflict
            try:
                accepted, hooks = await self._commit(new, settled)
            except Exception as exc:
                error = exc
                continue
            break
        else:
            assert error is not None
            log.error("IP Command batch (%d new, %d outcomes) not written: %s", len(new), len(settled), error)
            for _, _, future in new:
                if not future.done():
                    future.set_exception(error)
            self._settled[:0] = settled  # tried again with the next batch
            return False
        self.batches += 1
        self._flushing.discard(asyncio.current_task())  # type: ignore[arg-type]  # out of the database
        # On a database server the next batch goes before this one is answered: its 201s and its delivery then
        # take this process's time while the database works. SQLite writes on this process's CPU: there a batch
        # started early only makes smaller batches (measured slower).
        if self._overlap:
            self._fill(asyncio.get_running_loop().time())
        for (_, _, future), outcome in zip(new, accepted, strict=True):
            if future.done():
                continue  # a request cancelled meanwhile (client gone): its command stands
            if isinstance(outcome, Exception):
                future.set_exception(outcome)
            else:
                future.set_result(outcome.snapshot())  # as committed: delivery settles the original in place
        for command in settled:
            self._held.discard(command.sid)
        if hooks:
            self.ctx.wake_workers()  # the callbacks' jobs
        if self.ctx.command_delay <= 0 and not self._hands_off:
            self._send_later([outcome for outcome in accepted if isinstance(outcome, Outgoing)])
        return True

    async def _commit(
        self, new: list[tuple[str, NewIpCommand, asyncio.Future[Outgoing]]], settled: list[Outgoing]
    ) -> tuple[list[Outgoing | CellplaneError], int]:
        now = self.ctx.clock()
        hooks = [callback_values(command, now) for command in settled if command.callback_url]
        delay = self.ctx.command_delay
        dispatch_at = now + timedelta(seconds=delay if delay > 0 else self.lease)
        if self._hands_off:
            dispatch_at = now  # for a gateway node's sweep, at once
        # Callbacks go with their outcomes atomically: a transaction. Without any, PostgreSQL writes the batch in
        # one self-committing statement (repo.write_commands), after a SIM lookup only for SIMs not cached.
        async with self._transaction(atomic=bool(hooks)) as connection:
            cached = connection.dialect.name == "postgresql"  # where write_commands checks a cached SIM
            keys = [(account, request.sim) for account, request, _ in new]
            sims = await self._sims(connection, keys, cached)
            accepted = [self._command(account, request, sims.get(key), now, dispatch_at)
                        for (account, request, _), key in zip(new, keys, strict=True)]  # fmt: skip
            commands = [command for command in accepted if isinstance(command, Outgoing)]
            if commands or settled:
                written = await repo.write_commands(connection, commands, settled, lifecycle.CONNECTABLE)
                if len(written) < len(commands):
                    await self._decide_again(connection, new, keys, accepted, written, now, dispatch_at)
            if hooks:
                await repo.insert_webhooks(connection, [d for d, _ in hooks], [j for _, j in hooks])
            if self._hands_off and commands:
                await repo.release(connection, [], now)  # only the wake-up: they are due already
        return accepted, len(hooks)

    @property
    def _hands_off(self) -> bool:
        """No gateway here, several nodes: what this node accepts is sent by the gateway nodes."""
        return self.route and self.transport is None

    async def _decide_again(
        self,
        connection: AsyncConnection,
        new: list[tuple[str, NewIpCommand, asyncio.Future[Outgoing]]],
        keys: list[tuple[str, str]],
        accepted: list[Outgoing | CellplaneError],
        written: set[str],
        now: datetime,
        dispatch_at: datetime,
    ) -> None:
        """A cached SIM changed (status, account, unique name) and its commands were not written: decide them
        again from the database, as if they had just arrived. The rest of the batch is committed already (its own
        statement), so a failure here is theirs alone, never the batch's to retry."""
        stale = [
            at for at, command in enumerate(accepted) if isinstance(command, Outgoing) and command.sid not in written
        ]
        try:
            for at in stale:
                self._sim_cache.pop(keys[at], None)
            fresh = await self._sims(connection, [keys[at] for at in stale], cached=True)
            for at in stale:
                account, request, _ = new[at]
                accepted[at] = self._command(account, request, fresh.get(keys[at]), now, dispatch_at)
            again = [accepted[at] for at in stale if isinstance(accepted[at], Outgoing)]
            rewritten = await repo.write_commands(connection, again, [], lifecycle.CONNECTABLE) if again else set()
        except Exception as error:
            log.error("IP Commands to %d changed SIMs not written: %s", len(stale), error)
            for at in stale:
                accepted[at] = CellplaneError(f"The command was not written ({error}); send it again")
            return
        for at in stale:
            command = accepted[at]
            if isinstance(command, Outgoing) and command.sid not in rewritten:
                accepted[at] = Conflict(f"Sim {command.sim_sid} changed while the command was accepted; send it again")

    async def _sims(
        self, connection: AsyncConnection, keys: list[tuple[str, str]], cached: bool
    ) -> dict[tuple[str, str], CommandSim]:
        """The SIMs the commands name: from the cache where they may be (the write checks them), else one query."""
        if not cached:
            return await sims_for(connection, keys) if keys else {}
        cache = self._sim_cache
        found = {key: cache[key] for key in keys if key in cache}
        missing = [key for key in keys if key not in found]
        if missing:
            fresh = await sims_for(connection, missing)
            found.update(fresh)
            # Only SIMs that take commands: a refusal always comes from the database as it is now.
            reachable = {
                key: sim for key, sim in fresh.items() if lifecycle.takes_commands(sim.status, sim.pending_status)
            }
            if len(cache) + len(reachable) > self.sim_cache_size:
                cache.clear()
            cache.update(reachable)
        return found

    @staticmethod
    def _command(
        account: str, request: NewIpCommand, sim: CommandSim | None, now: datetime, dispatch_at: datetime
    ) -> Outgoing | CellplaneError:
        try:
            command = command_for(account, request, sim, now)
        except CellplaneError as refused:
            return refused
        command.dispatch_at = dispatch_at
        return command

    def _send_later(self, commands: list[Outgoing]) -> None:
        """Queue committed commands for the delivery task (started when none runs): held from now on, so that the
        sweep leaves them alone."""
        if not commands:
            return
        self._held.update(command.sid for command in commands)
        self._outbound.append(commands)
        if self._delivering is None:
            self._delivering = asyncio.create_task(self._deliver_outbound(), name="ip-command-delivery")

    async def _deliver_outbound(self) -> None:
        """Deliver queued batches in order. It runs after the requests the commit resolved (their 201s go first),
        and lets the loop turn every `delivery_slice` commands, so requests that arrive meanwhile form the next
        batch and go to the database while this one is still being sent."""
        try:
            while self._outbound:
                await self._deliver(self._outbound.pop(0))
        finally:
            self._delivering = None
            self._wake.set()  # a stop may be waiting for the last outcomes

    async def _deliver(self, commands: list[Outgoing]) -> None:
        """Hand each command to the SIM's tunnel; its outcome is written with the next batch."""
        for done, command in enumerate(commands):
            if done % self.delivery_slice == 0:
                await asyncio.sleep(0)
            try:
                delivery = await self._send(command)
                if delivery.outcome == DeliveryOutcome.NOT_ATTACHED and await self._release_if_elsewhere(command):
                    self._held.discard(command.sid)
                    continue
            except Exception:
                log.exception("sending IP Command %s failed; the recovery sweep tries it again", command.sid)
                self._held.discard(command.sid)
                continue
            settle(command, delivery, self.ctx.clock())
            if not self._settled:
                self._settle_by = asyncio.get_running_loop().time() + self.settle_linger
                self._wake.set()  # the loop may be waiting for the sweep only: let it take the new deadline
            self._settled.append(command)

    async def _release_if_elsewhere(self, command: Outgoing) -> bool:
        """Not attached here: if another live gateway holds the SIM's session, leave the command to it."""
        if not self.route or self.nas_id is None:
            return False
        async with self._transaction() as connection:
            if not await repo.held_elsewhere(connection, command.imsi, self.nas_id):
                return False
            await repo.release(connection, [command.sid], self.ctx.clock())
        log.debug("IP Command %s: the SIM is attached at another gateway; released to it", command.sid)
        return True

    async def _send(self, command: Outgoing) -> IpDelivery:
        if self.transport is None:
            return IpDelivery(DeliveryOutcome.NO_USER_PLANE)
        data = rules.stored_payload(command.payload, command.payload_type)
        return await self.transport.send_ip(command.imsi, command.device_port, data)

    async def _sweep(self) -> None:
        """Claim queued commands past their dispatch_at (left by a dead process, or paced) and send them."""
        if self._hands_off:
            return  # nothing to send them through: the gateway nodes' sweeps claim them
        now = self.ctx.clock()
        try:
            async with self._transaction() as connection:
                rows = await repo.claim_due(
                    connection,
                    now,
                    now + timedelta(seconds=self.lease),
                    self.sweep_batch,
                    self._held,
                    self.nas_id if self.route else None,
                )
        except Exception:
            log.exception("the IP Command recovery sweep failed; it runs again in %.1f s", self.sweep_interval)
            return
        if not rows:
            return
        self.swept += len(rows)
        log.info("recovery sweep: sending %d queued IP Commands", len(rows))
        commands = [_outgoing(row) for row in rows]
        self._held.update(command.sid for command in commands)
        await self._deliver(commands)  # awaited: a backlog is claimed a batch at a time, never all at once
        if len(rows) >= self.sweep_batch:
            self._next_sweep = 0.0  # more are due: sweep again after this batch's outcomes are written

    @contextlib.asynccontextmanager
    async def _transaction(self, *, atomic: bool = True) -> AsyncIterator[AsyncConnection]:
        """A Core transaction (no ORM session) on a connection the outbox keeps from batch to batch: no pool
        checkout, pre-ping or reset per transaction (a few round trips each on PostgreSQL). One connection per
        batch in flight; a connection that failed is dropped and the next transaction opens another.

        `atomic=False` on PostgreSQL: an AUTOCOMMIT connection, each statement its own transaction (no BEGIN or
        COMMIT round trips), for batches whose writes are one statement. SQLite always gets a transaction."""
        engine = self.ctx.engine
        if engine is None:  # a context built without an engine (some tests): a session's connection
            async with self.ctx.sessions() as session, session.begin():
                yield await session.connection()
            return
        autocommit = not atomic and engine.dialect.name == "postgresql"
        idle = self._idle_autocommit if autocommit else self._idle
        connection = idle.pop() if idle else await self._connect(engine, autocommit)
        try:
            if autocommit:
                yield connection
                await connection.commit()  # ends SQLAlchemy's own autobegun transaction; nothing is sent
            else:
                async with connection.begin():
                    yield connection
        except BaseException:
            await discard(connection)
            raise
        idle.append(connection)

    @staticmethod
    async def _connect(engine: AsyncEngine, autocommit: bool) -> AsyncConnection:
        """A connection of the outbox's own. Its statements keep PostgreSQL's generic plans: unlike the accounting
        writer's (driver_sql.plan_every_statement), they find rows by primary key whatever the table's size was
        when planned (tested on a grown table), and planning each batch cost a quarter of the throughput."""
        connection = await engine.connect()
        if autocommit:
            try:
                await connection.execution_options(isolation_level="AUTOCOMMIT")
            except BaseException:
                await discard(connection)
                raise
        return connection

    async def _close_connections(self) -> None:
        idle = self._idle + self._idle_autocommit
        self._idle, self._idle_autocommit = [], []
        for connection in idle:
            await discard(connection)


def _outgoing(row: Any) -> Outgoing:
    """A swept row (the command's columns and its SIM's imsi and unique name) as a command to send."""
    return Outgoing(**{name: getattr(row, name) for name in Outgoing.__dataclass_fields__})
