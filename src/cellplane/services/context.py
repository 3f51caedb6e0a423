"""What every use case needs from the running platform, handed in (never read from globals)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from cellplane.store.direct import DirectReader
from cellplane.store.models.base import utcnow


@dataclass
class PlatformContext:
    """The pieces a service call may touch besides its session.

    `sim_update_delay` paces asynchronous SIM updates (the `scheduled` state): 0 in tests, a few
    seconds in a demo, like moto's managed state model.
    """

    sessions: async_sessionmaker[AsyncSession]
    # For read-only hot paths that need no ORM session (GET one SIM); None in contexts built without one.
    engine: AsyncEngine | None = None
    # Driver-level point reads for the hottest GETs (store/direct.py); None where the backend has none.
    direct: DirectReader | None = None
    sim_update_delay: float = 0.0
    # Pace of IP Command dispatch (`queued` -> `sent`), seconds: 0 normally; a demo or a crash test slows it.
    command_delay: float = 0.0
    clock: Callable[[], datetime] = utcnow
    # Billing reports: more lines than this answer 302 to a stored download, which expires after the TTL (seconds).
    report_inline_lines: int = 10_000
    report_download_ttl: float = 86_400.0
    # Things a bulk action changes per transaction (services/things_bulk.py).
    bulk_chunk: int = 200
    # Whether the API's requests share this process's event loop (the api role runs here): batch work then builds
    # rows into objects a part at a time, yielding between parts; a workers-only process reads a batch at once.
    loop_shared: bool = True
    # One event per job runner: a wake-up must reach every runner, and one runner clearing its event
    # must not swallow another's. Each with the job kinds its runner takes (None: woken by every wake-up).
    wakers: list[tuple[asyncio.Event, Collection[str] | None]] = field(default_factory=list)
    hooks: dict[str, list[Callable[..., object]]] = field(default_factory=dict)
    # Why VPN tunnels cannot run in this process (None: they can); the runtime sets it from the data plane and charon.
    vpn_unavailable: Callable[[], str | None] = field(default=lambda: "the data plane is off")

    @property
    def read_part(self) -> int:
        """Rows a batch reads per statement: 100 (one short loop step each) beside the API, else 900 (under SQLite's
        old bound-parameter limit), a round trip per 900 instead of per 100."""
        return 100 if self.loop_shared else 900

    def wake_workers(self, kinds: Collection[str] | None = None) -> None:
        """Tell in-process workers a job was committed (they also poll, so a miss only delays). With `kinds`, the
        jobs committed are of those kinds only, and a runner that takes none of them is left alone: each wake-up
        costs a runner a claim (a transaction), and a bulk action wakes them several times a second."""
        for waker, takes in self.wakers:
            if kinds is None or takes is None or any(kind in takes for kind in kinds):
                waker.set()

    def new_waker(self, kinds: Collection[str] | None = None) -> asyncio.Event:
        """An event `wake_workers` sets, for one worker loop to wait on; `kinds`: the job kinds it takes (a live
        view is fine), None for every wake-up."""
        waker = asyncio.Event()
        self.wakers.append((waker, kinds))
        return waker
