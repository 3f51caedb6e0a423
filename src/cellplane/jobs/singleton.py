"""Periodic tasks that must run on one node at a time (the retention purge): a lease row per task, taken with a
conditional UPDATE that raises its epoch, and every transaction of the task fenced by that epoch.

Why an epoch and not only the lease's time: a holder paused past its lease (GC, a stopped VM, a partition) wakes
up believing it still holds it. Its next transaction first checks (and extends) the lease for its own epoch,
which locks the lease row until that transaction ends; after a taking-over the check matches nothing and the
transaction writes nothing (LeaseLost, logged and counted). A taking-over waits for a fenced transaction in
progress, so the epochs' writes never overlap: all of epoch N's commit before any of N+1's.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator

from sqlalchemy.ext.asyncio import AsyncSession

from cellplane.services.context import PlatformContext
from cellplane.services.metrics import STALE_WRITES
from cellplane.store.repositories import leases

log = logging.getLogger("cellplane.jobs")


class LeaseLost(Exception):
    """The lease lapsed and (maybe) another node took it: this holder's transaction was rolled back."""


def holder_name() -> str:
    """Who holds a lease, for operators reading the table: host, process, and a random tag (pids repeat)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"[:128]


class Singleton:
    """One named periodic task's lease, as seen from this node."""

    def __init__(self, ctx: PlatformContext, name: str, *, lease_seconds: float = 60.0, holder: str | None = None):
        self.ctx = ctx
        self.name = name
        self.lease_seconds = lease_seconds
        self.holder = holder or holder_name()
        self.epoch: int | None = None

    async def acquire(self) -> int | None:
        """Take the lease if it is free or lapsed: the new epoch, or None when another node holds it."""
        async with self.ctx.sessions() as session, session.begin():
            self.epoch = await leases.take(session, self.name, self.holder, self.lease_seconds)
        return self.epoch

    @contextlib.asynccontextmanager
    async def fenced(self) -> AsyncIterator[AsyncSession]:
        """A transaction that commits only while our epoch holds the lease (extending it); LeaseLost otherwise."""
        if self.epoch is None:
            raise LeaseLost(f"{self.name}: not held")
        async with self.ctx.sessions() as session, session.begin():
            if not await leases.fence(session, self.name, self.epoch, self.lease_seconds):
                STALE_WRITES.child("singleton", self.name).inc()
                log.warning("%s: lease epoch %d lapsed (taken over or expired); no write", self.name, self.epoch)
                raise LeaseLost(f"{self.name}: epoch {self.epoch} no longer holds the lease")
            yield session

    async def release(self) -> None:
        """Give the lease back so the next run need not wait for it to lapse."""
        if self.epoch is None:
            return
        async with self.ctx.sessions() as session, session.begin():
            await leases.give_back(session, self.name, self.epoch)
        self.epoch = None
