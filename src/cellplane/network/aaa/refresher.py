"""Keeps the policy cache current with the database: every `poll_interval` seconds it re-reads the SIMs whose row,
fleet, network access profile or billing period changed since its previous poll began (minus an overlap for
transactions that committed late and clocks of other nodes a little behind), so that changes made through the
API, by jobs, or by another node reach the AAA within about a second. A row version already acted on is not
loaded twice, and the billing-period stamps of our own accounting batches are left out by the database.
Hooks (core.on_sim_status_changed) make the common case immediate in this process, PostgreSQL change notifications
(store/notify.py, `reload_named`) for writes made by other nodes; this makes it sure. A bounded cache only cares
about the SIMs it holds (or is loading): the others are read fresh when next used (core.wants, core.refresh).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Collection
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cellplane.domain.policy import SimPolicy
from cellplane.domain.turns import in_turns
from cellplane.services import network_policy

from .core import AaaCore

log = logging.getLogger("cellplane.aaa.refresher")


class PolicyRefresher:
    def __init__(
        self, core: AaaCore, sessions: async_sessionmaker[AsyncSession], clock: Callable[[], datetime]
    ) -> None:
        self.core = core
        self._sessions = sessions
        self._clock = clock
        self._since: datetime | None = None
        # The row versions already acted on, for the overlap the polls look back over (see network_policy).
        self.versions: dict[tuple[str, str], datetime] = {}
        self._task: asyncio.Task[None] | None = None
        self.polls = 0
        self.notified = 0

    def start(self, since: datetime) -> None:
        self._since = since
        self._task = asyncio.create_task(self._run(), name="aaa-policy-refresher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        interval = self.core.config.poll_interval
        while True:
            await asyncio.sleep(interval)
            try:
                await self.poll()
            except Exception:
                log.exception("policy poll failed; retrying in %.1f s", interval)
            self.core.housekeeping()

    async def poll(self) -> None:
        assert self._since is not None
        overlap = timedelta(seconds=self.core.config.poll_overlap)
        now = self._clock()
        since = self._since - overlap
        async with self._sessions() as session:
            changes = await network_policy.load_changes(
                session, since, now, self.versions, list(self.core.period_stamps), self.core.wants, self._members()
            )
        # Everything stamped before this poll began has been read, but for transactions that commit later (or
        # clocks of other nodes a little behind): the overlap looks back over those next time.
        self._since = max(self._since, now)
        for key in [key for key, moment in self.versions.items() if moment < since]:
            del self.versions[key]
        await self._apply(changes.policies)
        self.polls += 1

    async def reload_named(self, keys: set[tuple[str, str]]) -> None:
        """Re-read what a change notification names, now (another node wrote it; store/notify.py). A key `*`
        (a statement whose rows could not be named) runs a poll instead."""
        if any(key == "*" for _, key in keys):
            await self.poll()
            return
        async with self._sessions() as session:
            fresh = await network_policy.load_named(session, self._clock(), keys, self.core.wants, self._members())
        await self._apply(fresh)
        self.notified += 1

    def _members(self) -> network_policy.Members | None:
        """With a bounded cache, a fleet's or plan's change reads only the SIMs held of it (core.members)."""
        return self.core.members if self.core.policies.bounded else None

    async def reload(self, imsis: Collection[str]) -> None:
        """Re-read these SIMs now (after a hook, once the change has committed)."""
        try:
            fresh = await self.load_imsis(imsis)
        except Exception:
            log.exception("reloading %d SIM policies failed; the poller will catch up", len(imsis))
            return
        await self._apply(fresh)

    async def _apply(self, fresh: dict[str, SimPolicy | None]) -> None:
        """Hand fresh snapshots to the cache, yielding the loop every STEP of them (a changed fleet of 100,000 cached
        SIMs would otherwise hold RADIUS answers for the whole of it)."""
        async for imsi, policy in in_turns(fresh.items(), network_policy.STEP):
            self.core.refresh(imsi, policy)

    async def load_imsis(self, imsis: Collection[str]) -> dict[str, SimPolicy | None]:
        """These SIMs' snapshots as the database has them now (also what the cache loads on demand)."""
        async with self._sessions() as session:
            return await network_policy.load_imsis(session, imsis, self._clock())
