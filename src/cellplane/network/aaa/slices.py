"""This AAA node's share of the UE address pool, when several AAA nodes share one pool on one database.

The pool (CELLPLANE_UE_IP_POOL, the same on every AAA node) is cut into slices (CELLPLANE_UE_IP_POOL_SLICE, a prefix
length). A node hands out addresses only from slices it holds a lease on: a row of `singleton_leases` named
`ue-pool:<pool>:<index>`, taken with the conditional UPDATE that raises its epoch (store/repositories/leases.py) and
extended every third of its lease, all on the database's clock. Two nodes therefore never hand out from one slice
at once, so no address is given twice:

- a node allocates from a slice only until `renewal started + lease - margin` on its own monotonic clock, so it
  has stopped before the database could let another node take the slice (clocks drift far less than the margin);
- a renewal that finds the epoch gone (the lease lapsed while the node was paused, and maybe was taken) revokes the
  slice at once;
- a node taking a slice first loads the open sessions holding addresses of it (the previous holder's live ones),
  and those addresses stay taken;
- once a lease, a node asks the database which of the sessions holding addresses of its slices are still open, and
  lets go of the others (`release_closed`): sessions closed where it could not see, such as a dead node's that the
  gateway sweep closed after the slice was taken over, or a Stop that reached another AAA node. Their addresses
  then linger as after any Stop (the pool's lease_ttl) and are handed out again; an address an open session holds
  is never let go, since only sessions the database has closed are.

A node claims one slice at start and another whenever fewer than a quarter of a slice's addresses are left; it
gives its slices back when it stops. A node restarted with the same id (CELLPLANE_NODE_ID, by default the host
and data directory) takes its own slices back without waiting for them to lapse.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import time
from collections.abc import Callable, Hashable, Sequence
from typing import Any, cast

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cellplane.services import data_sessions
from cellplane.store.models import SingletonLease
from cellplane.store.repositories import leases

from .pool import AddressPool
from .state import LiveSessions, SessionKey

log = logging.getLogger("cellplane.aaa")


def default_slice(pool: str) -> int:
    """256 slices of the pool, none smaller than a /28 (the default /10 pool: /18 slices of 16,382 addresses)."""
    length = ipaddress.IPv4Network(pool, strict=False).prefixlen
    return max(length, min(length + 8, 28))


class PoolSlices:
    """Claims, renews and gives back this node's slices of `pool`."""

    def __init__(
        self,
        pool: AddressPool,
        sessions: Callable[[], Any],
        *,
        node_id: str,
        slice_prefix: int,
        lease_seconds: float = 30.0,
    ) -> None:
        self.pool = pool
        self.sessions = sessions
        self.node_id = node_id
        self.lease_seconds = lease_seconds
        # Stop allocating this long before the lease could lapse on the database's clock.
        self.margin = min(5.0, lease_seconds / 4)
        self.count = pool.restrict(slice_prefix)
        self.prefix = f"ue-pool:{pool.network}:"
        self.epochs: dict[int, int] = {}
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self.low_water = max(1, (1 << (32 - slice_prefix)) // 4)
        # Told of the (owner, session key) pairs found closed in the database (release_closed); by default their
        # holds are dropped from the pool, the AAA also forgets the sessions (AaaCore.closed_elsewhere).
        self.closed: Callable[[Sequence[tuple[str, Hashable]]], None] = self._drop
        self._checked = time.monotonic()

    def name(self, index: int) -> str:
        return f"{self.prefix}{index}"

    async def start(self) -> None:
        """Claim the first slice (a node with none would refuse every attach) and start renewing."""
        if await self.claim() is None:
            log.error("UE pool %s: every slice is held by another node; no address to hand out", self.pool.network)
        self._task = asyncio.create_task(self._run(), name="ue-pool-slices")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(Exception):  # the database may be gone: the leases then lapse by themselves
            async with self.sessions() as session, session.begin():
                for index, epoch in self.epochs.items():
                    await leases.give_back(session, self.name(index), epoch)
        for index in list(self.epochs):
            self.pool.revoke(index)
        self.epochs.clear()

    def low(self) -> None:
        """Called after an allocation: ask for another slice once few addresses are left."""
        if self.pool.available(time.monotonic()) < self.low_water:
            self._wake.set()

    async def claim(self) -> int | None:
        """Take one more slice (our own lapsed or held-by-us ones first, then free or lapsed ones): its index."""
        started = time.monotonic()
        async with self.sessions() as session, session.begin():
            rows = await session.execute(
                select(SingletonLease.name, SingletonLease.holder).where(SingletonLease.name.like(f"{self.prefix}%"))
            )
            holders = {int(name[len(self.prefix) :]): holder for name, holder in rows}
            mine = [i for i, holder in holders.items() if holder == self.node_id and i not in self.epochs]
            others = [i for i in range(self.count) if i not in self.epochs and i not in mine]
            # Slices no row names yet come before ones another node holds (one query each is tried, in order).
            others.sort(key=lambda i: (i in holders, i))
            for index in mine + others:
                epoch = await leases.take(
                    session, self.name(index), self.node_id, self.lease_seconds, reclaim=index in mine
                )
                if epoch is None:
                    continue
                await self._hold_open(session, index)
                self.epochs[index] = epoch
                self.pool.grant(index, started + self.lease_seconds - self.margin)
                log.info("UE pool %s: slice %d (epoch %d) is this node's", self.pool.network, index, epoch)
                return index
        return None

    async def _hold_open(self, session: AsyncSession, index: int) -> None:
        """Keep taken the addresses of slice `index` that open sessions hold (given by its previous holder)."""
        first, last = self.pool.slice_range(index)
        now = time.monotonic()
        for live in await data_sessions.load_open_sessions(session):
            if live.ue_ip and first <= int(ipaddress.IPv4Address(live.ue_ip)) <= last:
                self.pool.hold(live.imsi, live.ue_ip, LiveSessions.key(live), now)

    async def renew(self) -> None:
        """Extend every slice we hold; revoke at once those whose epoch lost its lease."""
        started = time.monotonic()
        lost = []
        async with self.sessions() as session, session.begin():
            for index, epoch in self.epochs.items():
                if not await leases.fence(session, self.name(index), epoch, self.lease_seconds):
                    lost.append(index)
        for index in self.epochs:
            if index not in lost:
                self.pool.grant(index, started + self.lease_seconds - self.margin)
        for index in lost:
            epoch = self.epochs.pop(index)
            log.warning("UE pool %s: slice %d lapsed (epoch %d); no longer ours", self.pool.network, index, epoch)
            self.pool.revoke(index)

    async def release_closed(self) -> int:
        """Let go of the addresses of our slices held by sessions the database has closed; how many sessions."""
        held = self.pool.held_in(list(self.epochs))
        if not held:
            return 0
        async with self.sessions() as session:
            still = await data_sessions.still_open(session, {cast(SessionKey, key) for _, key in held})
        gone = [(owner, key) for owner, key in held if key not in still]
        if gone:
            log.info(
                "UE pool %s: %d sessions closed by other nodes release their addresses", self.pool.network, len(gone)
            )
            self.closed(gone)
        return len(gone)

    def _drop(self, gone: Sequence[tuple[str, Hashable]]) -> None:
        now = time.monotonic()
        for owner, key in gone:
            self.pool.drop(owner, key, now)

    async def _run(self) -> None:
        interval = self.lease_seconds / 3
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), interval)
            self._wake.clear()
            try:
                await self.renew()
                if time.monotonic() - self._checked >= self.lease_seconds:
                    self._checked = time.monotonic()
                    await self.release_closed()
                if self.pool.available(time.monotonic()) < self.low_water and await self.claim() is None:
                    log.warning("UE pool %s: running low and no slice is free", self.pool.network)
                    await asyncio.sleep(1.0)  # every attach asks while short: try again in a second, not at once
            except Exception:  # the database away: the slices' time runs out on their own, we retry
                log.exception("UE pool %s: renewing slices failed", self.pool.network)
                await asyncio.sleep(1.0)
