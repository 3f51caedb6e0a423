"""Queries on singleton leases: take one with a conditional UPDATE that raises its epoch, fence a transaction with
it, give it back. Every time is the database's (store/db_clock.py)."""

from __future__ import annotations

from sqlalchemy import false, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from cellplane.store.db_clock import db_utcnow
from cellplane.store.models import SingletonLease


async def take(session: AsyncSession, name: str, holder: str, seconds: float, *, reclaim: bool = False) -> int | None:
    """The new epoch if the lease was free or lapsed (now ours for `seconds`), else None: another holds it.
    `reclaim`: also when `holder` holds it already (a node restarted under the same id takes its own back)."""
    dialect = postgresql if session.bind.dialect.name == "postgresql" else sqlite
    # The row is made once, by whichever node gets there first; the others' insert does nothing.
    await session.execute(
        dialect.insert(SingletonLease).values(name=name, epoch=0).on_conflict_do_nothing(index_elements=["name"])
    )
    taken = await session.execute(
        update(SingletonLease)
        .where(
            SingletonLease.name == name,
            or_(
                SingletonLease.lease_until.is_(None),
                SingletonLease.lease_until < db_utcnow(),
                SingletonLease.holder == holder if reclaim else false(),
            ),
        )
        .values(epoch=SingletonLease.epoch + 1, holder=holder, lease_until=db_utcnow(seconds))
        .returning(SingletonLease.epoch)
        .execution_options(synchronize_session=False)
    )
    epoch = taken.scalar_one_or_none()
    return int(epoch) if epoch is not None else None


async def fence(session: AsyncSession, name: str, epoch: int, seconds: float) -> bool:
    """Whether `epoch` still holds the lease, unlapsed; if so it is extended by `seconds` and its row stays locked
    until the caller's transaction ends, so a taking-over waits for that transaction (and sees it committed)."""
    result = await session.execute(
        update(SingletonLease)
        .where(SingletonLease.name == name, SingletonLease.epoch == epoch, SingletonLease.lease_until > db_utcnow())
        .values(lease_until=db_utcnow(seconds))
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def give_back(session: AsyncSession, name: str, epoch: int) -> None:
    """End our lease now (the next taker need not wait for it to lapse); nothing if it is no longer ours."""
    await session.execute(
        update(SingletonLease)
        .where(SingletonLease.name == name, SingletonLease.epoch == epoch)
        .values(holder=None, lease_until=None)
        .execution_options(synchronize_session=False)
    )


async def lapsed(session: AsyncSession, prefix: str) -> list[tuple[str, int]]:
    """(name, epoch) of the leases named `prefix...` whose holder let them lapse (held, not given back), locked
    until the caller's transaction ends (a holder coming back to take its own waits for it). No SKIP LOCKED: the
    caller is a singleton (jobs/gateway_sweep.py), nobody else sweeps."""
    rows = await session.execute(
        select(SingletonLease.name, SingletonLease.epoch)
        .where(
            SingletonLease.name.like(f"{prefix}%"),
            SingletonLease.holder.is_not(None),
            SingletonLease.lease_until < db_utcnow(),
        )
        .with_for_update()
    )
    return [(name, int(epoch)) for name, epoch in rows]
