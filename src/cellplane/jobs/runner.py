"""The job runner: claim due jobs, run their handler, retry with backoff, dead-letter at the end.

Jobs are rows (the outbox), so a crash loses nothing: a claimed job carries a lease, and a job whose
lease lapsed (its worker died) is claimed again. Handlers must therefore be idempotent.
On PostgreSQL several nodes claim with FOR UPDATE SKIP LOCKED; SQLite has one writer anyway.

Fenced (issue 21): every claim raises the job's `claim_epoch`, and every later write of the runner (done, dead,
retry) is `UPDATE ... WHERE id = :id AND claim_epoch = :epoch`. A runner paused past its lease (a long GC, a
stopped VM, a partition) whose job was claimed again meanwhile writes nothing when it wakes: the newer claim's
outcome stands. Leases are stamped and compared on the database's clock (store/db_clock.py), not the node's.
While a handler runs, its runner renews the lease every third of it (fenced the same way), so a slow handler on a
live node keeps its job; only a node that stops (dies, or is paused past the lease) loses it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import func, or_, select, tuple_, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from cellplane.services.context import PlatformContext
from cellplane.services.metrics import JOB_RUNS, STALE_WRITES
from cellplane.store.db_clock import db_utcnow
from cellplane.store.models import Job
from cellplane.store.models.base import utcnow

log = logging.getLogger("cellplane.jobs")
# Pauses between the tries of a job's outcome write when the database cannot be reached (too many clients, a
# failover): a second and a half in all, well inside a lease.
_WRITE_RETRIES = (0.1, 0.4, 1.0)

Handler = Callable[[PlatformContext, dict[str, Any]], Awaitable[None]]
# Told of every write the runner tries after a claim: the job as claimed, the status it wrote, whether it applied.
WriteObserver = Callable[[Job, str, bool], None]


class RetryLater(Exception):
    """Raised by a handler that wants another attempt (e.g. a webhook receiver answered 503)."""


class NotYet(Exception):
    """Raised by a handler whose job must wait for other work first (a webhook behind an earlier one of the same
    resource): run again after `delay` seconds, and this claim does not count as one of the job's attempts."""

    def __init__(self, reason: str, delay: float = 0.2) -> None:
        super().__init__(reason)
        self.delay = delay


def backoff_seconds(attempt: int, base: float = 1.0, cap: float = 300.0) -> float:
    """Exponential backoff with jitter: ~1 s, 2 s, 4 s ... capped at five minutes."""
    return min(cap, base * 2 ** max(0, attempt - 1)) * (0.5 + random.random() / 2)


class JobRunner:
    def __init__(
        self,
        ctx: PlatformContext,
        handlers: dict[str, Handler],
        *,
        concurrency: int = 8,
        poll_interval: float = 0.5,
        idle_poll: float = 2.0,
        lease_seconds: float = 60.0,
        backoff_base: float = 1.0,
    ) -> None:
        self.ctx = ctx
        self.handlers = handlers
        self.concurrency = concurrency
        self.poll_interval = poll_interval
        self.idle_poll = max(idle_poll, poll_interval)
        self.lease_seconds = lease_seconds
        self.backoff_base = backoff_base
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self.observers: list[WriteObserver] = []
        self._held: dict[int, Job] = {}  # claimed here, outcome not yet written: their leases are renewed
        self._looked_at = float("-inf")  # loop time of the last look for the first job due (_idle_pause)
        self._due_at = 0.0  # loop time that look chose to wake at
        self._renew_task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._wake = self.ctx.new_waker(self.handlers.keys())  # a live view: handlers may be added until start
        self._loop_task = asyncio.create_task(self._loop(), name="job-runner")
        self._renew_task = asyncio.create_task(self._renew_loop(), name="job-lease-renewal")

    async def stop(self) -> None:
        self._stopping.set()
        self.ctx.wake_workers()
        if self._loop_task is not None:
            await self._loop_task
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=5)
        if self._renew_task is not None:
            self._renew_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renew_task

    async def _renew_loop(self) -> None:
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            try:
                await self.renew()
            except Exception:
                log.exception("renewing job leases failed; they lapse if this goes on")

    async def renew(self) -> None:
        """Extend the leases of the jobs running here, each only while its claim is still the latest."""
        held = [(job.id, job.claim_epoch) for job in self._held.values()]
        if not held:
            return
        async with self.ctx.sessions() as session, session.begin():
            await session.execute(
                update(Job)
                .where(tuple_(Job.id, Job.claim_epoch).in_(held), Job.status == "running")
                .values(locked_until=db_utcnow(self.lease_seconds))
                .execution_options(synchronize_session=False)
            )

    async def _loop(self) -> None:
        while not self._stopping.is_set():
            # Cleared before claiming, so a job committed while the claim runs still wakes the next turn
            # (clearing after the claim lost such wake-ups and left the job to the next poll).
            self._wake.clear()
            free = self.concurrency - len(self._tasks)
            claimed: list[Job] = []
            if free > 0:
                try:
                    claimed = await self.claim(free)
                except Exception:
                    log.exception("claiming jobs failed")
            for job in claimed:
                self._held[job.id] = job
                task = asyncio.create_task(self._run(job))
                self._tasks.add(task)
                task.add_done_callback(self._task_done)
            if len(claimed) < free or free <= 0:
                pause = self.poll_interval
                if free > 0 and not claimed:
                    pause = await self._idle_pause()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), pause)

    async def _idle_pause(self) -> float:
        """How long a runner that found nothing may sleep: until its first job falls due, by the database's clock,
        `idle_poll` at most; `poll_interval` when one is due already (taken by another node meanwhile) or the
        database did not answer. Woken again within `poll_interval` of the last look (every write of the API wakes
        the runners), it keeps that look's answer, `poll_interval` at most, rather than ask again."""
        now = asyncio.get_running_loop().time()
        if now - self._looked_at < self.poll_interval:
            return max(0.0, min(self._due_at, self._looked_at + self.poll_interval) - now)
        pause = await self._first_due_in()
        self._looked_at, self._due_at = now, now + pause
        return pause

    async def _first_due_in(self) -> float:
        kinds = list(self.handlers)
        first_run = (
            select(Job.run_at)
            .where(Job.status == "pending", Job.kind.in_(kinds))
            .order_by(Job.run_at)
            .limit(1)
            .scalar_subquery()
        )
        first_lapse = (
            select(func.min(Job.locked_until)).where(Job.status == "running", Job.kind.in_(kinds)).scalar_subquery()
        )
        try:
            async with self.ctx.sessions() as session:
                row = (await session.execute(select(first_run, first_lapse, db_utcnow()))).one()
        except Exception:
            log.exception("looking for the next job failed")
            return self.poll_interval
        now = row[2]
        due = min((when for when in row[:2] if when is not None), default=None)
        if due is None:
            return self.idle_poll
        wait = (due - now).total_seconds()
        return self.poll_interval if wait <= 0 else min(wait, self.idle_poll)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        """A slot is free again: look for more work at once rather than at the next poll."""
        self._tasks.discard(task)
        self._wake.set()

    async def claim(self, limit: int) -> list[Job]:
        """Take up to `limit` due jobs, marking them running with a lease and a new claim epoch.

        One statement (UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED) RETURNING): SQLite takes its
        write lock at once instead of upgrading a read (which fails when another process wrote in between)."""
        now = db_utcnow()
        due = (
            select(Job.id)
            .where(
                Job.run_at <= now,
                or_(Job.status == "pending", (Job.status == "running") & (Job.locked_until < now)),
                # Only kinds this runner handles: several runners (webhooks apart) share the table.
                Job.kind.in_(list(self.handlers)),
            )
            .order_by(Job.run_at, Job.id)
            .limit(limit)
        )
        async with self.ctx.sessions() as session, session.begin():
            if session.bind.dialect.name == "postgresql":
                due = due.with_for_update(skip_locked=True)
            claimed = await session.execute(
                update(Job)
                .where(Job.id.in_(due.scalar_subquery()))
                .values(
                    status="running",
                    locked_until=db_utcnow(self.lease_seconds),
                    attempts=Job.attempts + 1,
                    claim_epoch=Job.claim_epoch + 1,
                )
                .returning(Job)
                .execution_options(synchronize_session=False)
            )
            return sorted(claimed.scalars().all(), key=lambda job: (job.run_at, job.id))

    async def _run(self, job: Job) -> None:
        handler = self.handlers.get(job.kind)
        try:
            try:
                if handler is None:
                    raise LookupError(f"no handler for job kind {job.kind!r}")
                await handler(self.ctx, dict(job.payload))
            except Exception as exc:
                await self._failed(job, exc)
            else:
                if await self._write(job, "done", error=None):
                    JOB_RUNS.child(job.kind, "done").inc()
        except Exception as error:
            # The outcome could not be written (the database refused connections, or went away): the claim's lease
            # lapses and the job runs again, as after this node's death; the runner itself goes on.
            log.warning("job %s (%s): its outcome was not recorded, it will run again: %s", job.id, job.kind, error)
        finally:
            if self._held.get(job.id) is job:
                del self._held[job.id]

    async def _failed(self, job: Job, exc: Exception) -> None:
        error = f"{type(exc).__name__}: {exc}"[:2000]
        if isinstance(exc, NotYet):
            await self._write(job, "pending", error=error, run_at=db_utcnow(exc.delay), attempts=Job.attempts - 1)
            return
        if not isinstance(exc, RetryLater):
            log.warning("job %s (%s) attempt %d failed: %s", job.id, job.kind, job.attempts, error)
        if job.attempts >= job.max_attempts:
            if await self._write(job, "dead", error=error):
                JOB_RUNS.child(job.kind, "dead").inc()
            return
        delay = backoff_seconds(job.attempts, self.backoff_base)
        if await self._write(job, "pending", error=error, run_at=db_utcnow(delay)):
            JOB_RUNS.child(job.kind, "retry").inc()

    async def _write(self, job: Job, status: str, *, error: str | None, **more: Any) -> bool:
        """Record this claim's outcome, only if it is still the job's latest claim; False (logged, counted) when a
        newer claim took the job after this one's lease lapsed: its outcome stands. A database that cannot be
        reached is tried again a few times (the write is fenced, so a late one is harmless), then the error rises."""
        statement = (
            update(Job)
            .where(Job.id == job.id, Job.claim_epoch == job.claim_epoch)
            .values(status=status, locked_until=None, last_error=error, **more)
            .execution_options(synchronize_session=False)
        )
        for pause in (*_WRITE_RETRIES, None):
            try:
                async with self.ctx.sessions() as session, session.begin():
                    result = await session.execute(statement)
                break
            except (DBAPIError, OSError):
                if pause is None:
                    raise
                await asyncio.sleep(pause)
        applied = bool(result.rowcount)  # type: ignore[attr-defined]
        if not applied:
            STALE_WRITES.child("job", job.kind).inc()
            log.warning(
                "job %s (%s): claim %d lapsed and the job was claimed again; its %r is not written",
                job.id,
                job.kind,
                job.claim_epoch,
                status,
            )
        for observer in self.observers:
            observer(job, status, applied)
        return applied

    async def drain(self, timeout: float = 10.0) -> None:
        """Wait until no job is due (for tests and for a clean stop)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            async with self.ctx.sessions() as session:
                pending = await _due_count(session)
            if pending == 0 and not self._tasks:
                return
            self.ctx.wake_workers()
            await asyncio.sleep(0.02)


async def _due_count(session: AsyncSession) -> int:
    now = utcnow()
    rows = await session.execute(
        select(Job.id).where(Job.status.in_(("pending", "running")), Job.run_at <= now).limit(1)
    )
    return len(rows.all())
