"""The job table's backlog at a glance, for the metrics scrape: cheap on the (status, run_at) index."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cellplane.store.models import Job


@dataclass(frozen=True)
class Backlog:
    kind: str
    status: str
    count: int
    oldest_created: datetime | None  # the oldest unfinished job of that kind and status
    oldest_due: datetime | None  # the earliest run_at among them


async def backlog(session: AsyncSession) -> list[Backlog]:
    """Unfinished (pending, running) and dead jobs, by kind and status."""
    rows = await session.execute(
        select(Job.kind, Job.status, func.count(), func.min(Job.date_created), func.min(Job.run_at))
        .where(Job.status.in_(("pending", "running", "dead")))
        .group_by(Job.kind, Job.status)
    )
    return [Backlog(kind, status, int(count), oldest, due) for kind, status, count, oldest, due in rows.all()]
