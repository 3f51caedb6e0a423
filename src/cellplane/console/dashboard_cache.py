"""The dashboard's numbers, kept per account for a few seconds and refreshed in the background.

Counting a million SIMs by status takes most of a second; a dashboard that several people keep open must not pay
it on every view. The first view of an account counts (and waits); later views get the last count at once, and
one that finds it older than `fresh` starts one background recount for the next view. The page says how old the
numbers are.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from cellplane.services.overview import Dashboard

log = logging.getLogger("cellplane.console")


@dataclass
class _Entry:
    board: Dashboard
    made: float


class DashboardCache:
    def __init__(self, fresh: float = 10.0, keep: float = 300.0) -> None:
        self.fresh = fresh
        self.keep = keep
        self._entries: dict[str, _Entry] = {}
        self._refreshing: dict[str, asyncio.Task[None]] = {}

    async def get(self, account_sid: str, count: Callable[[], Awaitable[Dashboard]]) -> tuple[Dashboard, float]:
        """The account's dashboard and its age in seconds."""
        now = time.monotonic()
        entry = self._entries.get(account_sid)
        if entry is None or now - entry.made > self.keep:
            entry = self._store(account_sid, await count())
            return entry.board, 0.0
        if now - entry.made > self.fresh and account_sid not in self._refreshing:
            self._refreshing[account_sid] = asyncio.create_task(self._refresh(account_sid, count))
        return entry.board, now - entry.made

    async def _refresh(self, account_sid: str, count: Callable[[], Awaitable[Dashboard]]) -> None:
        try:
            self._store(account_sid, await count())
        except Exception:  # the next view tries again; the stale numbers stay shown meanwhile
            log.exception("console: refreshing the dashboard of %s failed", account_sid)
        finally:
            self._refreshing.pop(account_sid, None)

    def _store(self, account_sid: str, board: Dashboard) -> _Entry:
        if len(self._entries) > 10_000:
            self._entries.clear()
        entry = self._entries[account_sid] = _Entry(board, time.monotonic())
        return entry

    async def stop(self) -> None:
        for task in list(self._refreshing.values()):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
