"""The audit log: who changed what, when and from where; read back filtered; purged after 90 days.

Changes through the HTTP surfaces are recorded by one ASGI layer (api/wire/edge.py), handed to an `AuditWriter` that
inserts them in batches a few milliseconds later, so a mutating request pays an append to a list, not a second
transaction (the hot POST IpCommands stays hot). The CLI's admin commands record theirs with `record` in the same
transaction as the change.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cellplane.domain.caller import Caller
from cellplane.domain.errors import InvalidParameter, NotFound
from cellplane.domain.ids import Prefix, is_sid, new_sid
from cellplane.domain.paging import Page, PageSpec
from cellplane.domain.permissions import RESOURCES
from cellplane.store.models import AuditEvent
from cellplane.store.models.base import utcnow
from cellplane.store.repositories import identity as repo

log = logging.getLogger("cellplane.audit")
RETENTION = timedelta(days=90)
BATCH = 1000


def event_row(
    *,
    account_sid: str | None,
    actor_kind: str,
    actor_sid: str | None,
    role: str | None,
    action: str,
    resource: str | None,
    resource_sid: str | None,
    status: int | None,
    source: str | None,
    at: datetime | None = None,
) -> dict[str, Any]:
    return {
        "sid": new_sid(Prefix.AUDIT_EVENT),
        "account_sid": account_sid,
        "actor_kind": actor_kind,
        "actor_sid": actor_sid,
        "role": role,
        "action": action[:160],
        "resource": resource,
        "resource_sid": None if resource_sid is None else resource_sid[:64],
        "status": status,
        "source": None if source is None else source[:128],
        "timestamp": at or utcnow(),
    }


async def record(session: AsyncSession, **fields: Any) -> None:
    """One event in the caller's transaction (the CLI's admin commands)."""
    await repo.insert_audit_events(session, [event_row(**fields)])


class AuditWriter:
    """Collects events and inserts them in one statement per batch, from a task of its own."""

    def __init__(self, sessions: Callable[[], async_sessionmaker[AsyncSession]] | async_sessionmaker[AsyncSession]):
        self._sessions = sessions
        self._pending: list[dict[str, Any]] = []
        self._task: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()
        self._idle.set()

    def add(self, row: dict[str, Any]) -> None:
        self._pending.append(row)
        self._idle.clear()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._flush_soon())

    async def _flush_soon(self) -> None:
        await asyncio.sleep(0.02)  # gather what a burst of requests adds
        await self.flush()

    async def flush(self) -> None:
        while self._pending:
            rows, self._pending = self._pending[:BATCH], self._pending[BATCH:]
            try:
                async with self._sessions() as session, session.begin():
                    await repo.insert_audit_events(session, rows)
            except Exception:
                log.exception("could not write %d audit events", len(rows))
        self._idle.set()

    async def drained(self) -> None:
        await self._idle.wait()


@dataclass(frozen=True)
class AuditRequest:
    actor: str | None = None
    resource: str | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None


async def list_events(session: AsyncSession, caller: Caller, wanted: AuditRequest, spec: PageSpec) -> Page[AuditEvent]:
    if wanted.resource is not None and wanted.resource not in RESOURCES:
        raise InvalidParameter("Resource", f"Resource must be one of {', '.join(RESOURCES)}")
    if wanted.start_time is not None and wanted.end_time is not None and wanted.start_time >= wanted.end_time:
        raise InvalidParameter("StartTime", "StartTime must be before EndTime")
    where = repo.AuditFilter(
        actor_sid=wanted.actor, resource=wanted.resource, start=wanted.start_time, end=wanted.end_time
    )
    return await repo.page_audit(session, repo.audit_query(caller.account_sid, where), spec)


async def fetch(session: AsyncSession, caller: Caller, sid: str) -> AuditEvent:
    event = await repo.find_audit_event(session, sid, caller.visible) if is_sid(sid, Prefix.AUDIT_EVENT) else None
    if event is None:
        raise NotFound("AuditEvent", sid)
    return event
