"""Bulk actions over Things (THINGS.md): the selection is frozen into items when the action is created, then the
`things_bulk` job runs them a chunk at a time (`bulk_chunk` Things: default_bulk_chunk) through
`services.things.update_many`, the same rule function the single-Thing PATCH calls with one Thing, so every rule
holds per item and a refused item fails with its reason. A chunk is read once and written set-based (one UPDATE of
the Things per distinct change, one executemany of the items' outcomes, one `sim_update` job for its state changes).

Exactly once across crashes: a chunk is one transaction that first takes the action's row (an UPDATE: the write lock
on SQLite, the row lock on PostgreSQL, where the chunk's Things are also locked FOR UPDATE), then applies the pending
items' changes and writes their outcomes and the action's counters. One job runs chunks back to back for a few
seconds; its last chunk queues the job that goes on, in the chunk's transaction. A crash rolls the chunk in progress
back; the job's lease lapses and the chunk runs again from the first item still pending. Two runs of the same chunk
(a job taken again after its lease) are serialised by that row lock, and the second finds the items done. Between
chunks the transaction ends, so the API and other jobs get the database.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from cellplane.domain import things_bulk as rules
from cellplane.domain.caller import Caller
from cellplane.domain.errors import InvalidParameter, NotFound
from cellplane.domain.ids import Prefix, new_sid
from cellplane.domain.paging import Page, PageSpec
from cellplane.services import things as things_service
from cellplane.services import things_events
from cellplane.services.context import PlatformContext
from cellplane.services.outbox import enqueue
from cellplane.services.sims import SIM_UPDATE_JOB
from cellplane.store.models import BulkAction, BulkItem, Sim, ThingsGroup
from cellplane.store.models.base import utcnow
from cellplane.store.repositories import things as repo
from cellplane.store.repositories import things_tags as tag_repo
from cellplane.store.repositories.paging import keyset_page
from cellplane.store.value_lists import among

BULK_JOB = "things_bulk"
_INSERT_CHUNK = 5000
# How long one job runs chunks before it hands over to a new job (a bounded job stops cleanly with the node).
_JOB_SECONDS = 5.0


def default_bulk_chunk(dialect: str, loop_shared: bool = True) -> int:
    """Things per chunk when CELLPLANE_BULK_CHUNK is not set. A chunk's fixed cost (a dozen round trips, its
    `sim_update` job's claim and completion) was half of PostgreSQL's time per Thing at 200 (bench/RESULTS.md), so a
    workers-only process takes 1,000 there, where a chunk locks only its own rows. Where the API shares the event
    loop (`loop_shared`), a chunk's set-based steps each hold it for their whole chunk, and SQLite's one write lock is
    held for a chunk too: 100 on either backend. On PostgreSQL, once a chunk's lists went as one array parameter
    (store/value_lists.py) and its statements got cheaper, 500 finished a 100,000-Thing action in 40-45 s but left
    the API's p99 at 75-85 ms during it; 200 gave 49 s and 57 ms, 100 gave 60 s and 46 ms (bench/RESULTS.md)."""
    if dialect == "sqlite" or loop_shared:
        return 100
    return 1000


async def create(session: AsyncSession, caller: Caller, action: Any, parameters: Any, selection: Any) -> BulkAction:
    """Check, freeze the selection into items, queue the first batch; nothing is written when anything is refused."""
    name = rules.check_action(action)
    params = rules.check_parameters(name, parameters)
    kind, chosen = rules.check_selection(selection)
    if (
        name == "moveToGroup"
        and await repo.owned(session, ThingsGroup, caller.account_sid, params["thingsGroupId"]) is None
    ):
        raise InvalidParameter("parameters.thingsGroupId", f"Things Group {params['thingsGroupId']} was not found")
    sids = await _resolve(session, caller, kind, chosen)
    bulk = BulkAction(
        sid=new_sid(Prefix.BULK_ACTION),
        account_sid=caller.account_sid,
        action=name,
        parameters=params,
        selection={kind: chosen},
        status=rules.QUEUED,
        total=len(sids),
        succeeded=0,
        failed=0,
    )
    session.add(bulk)
    await session.flush()
    for start in range(0, len(sids), _INSERT_CHUNK):
        rows = [
            {"bulk_sid": bulk.sid, "position": start + offset, "thing_sid": sid, "outcome": rules.PENDING}
            for offset, sid in enumerate(sids[start : start + _INSERT_CHUNK])
        ]
        await session.execute(insert(BulkItem), rows)
    enqueue(session, BULK_JOB, {"bulk_sid": bulk.sid})
    return bulk


async def _resolve(session: AsyncSession, caller: Caller, kind: str, chosen: Any) -> list[str]:
    stmt = repo.things_query(caller.account_sid).with_only_columns(Sim.sid, Sim.iccid)
    if kind == "thingIds":
        found: dict[str, str] = {}
        for start in range(0, len(chosen), 900):
            part = chosen[start : start + 900]
            rows = (await session.execute(stmt.where(among(Sim.sid, part) | among(Sim.iccid, part)))).all()
            for sid, iccid in rows:
                found[sid] = sid
                found[iccid] = sid
        missing = [key for key in chosen if key not in found]
        if missing:
            raise InvalidParameter("selection.thingIds", f"Thing {missing[0]} was not found")
        return list(dict.fromkeys(found[key] for key in chosen))
    if kind == "thingsGroupId":
        if await repo.owned(session, ThingsGroup, caller.account_sid, chosen) is None:
            raise InvalidParameter("selection.thingsGroupId", f"Things Group {chosen} was not found")
        stmt = stmt.where(Sim.things_group_sid == chosen)
    else:
        stmt = stmt.where(Sim.sid.in_(tag_repo.tagged(caller.account_sid, chosen)))
    return list((await session.execute(stmt.with_only_columns(Sim.sid).order_by(Sim.sid))).scalars())


async def fetch(session: AsyncSession, caller: Caller, sid: str) -> BulkAction:
    found = await repo.owned(session, BulkAction, caller.account_sid, sid)
    if found is None:
        raise NotFound("BulkAction", sid)
    return found


async def list_actions(session: AsyncSession, caller: Caller, spec: PageSpec) -> Page[BulkAction]:
    return await keyset_page(session, repo.listing(BulkAction, caller.account_sid), BulkAction.sid, spec)


async def items(
    session: AsyncSession, caller: Caller, sid: str, size: int, after: int | None, outcome: str | None = None
) -> tuple[list[BulkItem], bool]:
    """A keyset page of the action's items by position: the items and whether more follow."""
    bulk = await fetch(session, caller, sid)
    return await _items(session, bulk.sid, size, after, outcome)


async def failures(session: AsyncSession, sid: str, size: int) -> tuple[list[BulkItem], bool]:
    """The first `size` failed items of an action the console's live feed follows (it checked the account when the
    page subscribed): the items and whether more failed."""
    return await _items(session, sid, size, None, rules.FAILED)


async def _items(
    session: AsyncSession, sid: str, size: int, after: int | None, outcome: str | None
) -> tuple[list[BulkItem], bool]:
    stmt = select(BulkItem).where(BulkItem.bulk_sid == sid)
    if outcome is not None:
        allowed = (rules.PENDING, rules.SUCCEEDED, rules.FAILED, rules.SKIPPED)
        if outcome not in allowed:
            raise InvalidParameter("outcome", f"outcome must be one of {', '.join(allowed)}")
        stmt = stmt.where(BulkItem.outcome == outcome)
    if after is not None:
        stmt = stmt.where(BulkItem.position > after)
    rows = list((await session.execute(stmt.order_by(BulkItem.position).limit(size + 1))).scalars())
    return rows[:size], len(rows) > size


async def cancel(session: AsyncSession, caller: Caller, sid: str) -> BulkAction:
    """Stop a queued or running action: the batch in progress finishes (its row lock is waited for), the items
    still pending are marked `cancelled`, and the events URL hears that the action finished."""
    bulk = await fetch(session, caller, sid)
    taken = await session.execute(
        update(BulkAction)
        .where(BulkAction.sid == bulk.sid, BulkAction.status.in_(rules.OPEN))
        .values(status=rules.CANCELLED, completed_at=utcnow(), date_updated=utcnow())
    )
    if taken.rowcount == 0:  # type: ignore[attr-defined]
        await session.refresh(bulk)
        raise InvalidParameter("status", f"Bulk action {bulk.sid} is already {bulk.status}")
    await session.execute(
        update(BulkItem)
        .where(BulkItem.bulk_sid == bulk.sid, BulkItem.outcome == rules.PENDING)
        .values(outcome=rules.SKIPPED, error="The bulk action was cancelled", date_updated=utcnow())
    )
    await session.refresh(bulk)
    await _announce(session, bulk)
    return bulk


def _change(bulk: BulkAction) -> things_service.ThingChange:
    params = bulk.parameters
    action = bulk.action
    if action in rules.STATE_OF_ACTION:
        return things_service.ThingChange(state=rules.STATE_OF_ACTION[action])
    if action == "moveToGroup":
        return things_service.ThingChange(things_group_id=params["thingsGroupId"])
    if action == "addTags":
        return things_service.ThingChange(add_tags=list(params["tags"]))
    if action == "removeTags":
        return things_service.ThingChange(remove_tags=list(params["tags"]))
    if action == "setServices":
        services = params["services"]
        return things_service.ThingChange(services_data=services.get("data"), services_sms=services.get("sms"))
    if action == "unlockIp":
        return things_service.ThingChange(locked_ip=None)
    return things_service.ThingChange()  # lockIp: the address is the Thing's own, found per item


async def _run_chunk(
    session: AsyncSession, ctx: PlatformContext, caller: Caller, bulk: BulkAction, thing_sids: list[str]
) -> list[str | None]:
    """Each item's error (None: done) for a chunk of the action's Things, through `services.things.update_many`, the
    rules of the single-Thing PATCH: one read of the chunk, a few set-based writes."""
    things = await repo.things_for_update(session, caller.account_sid, thing_sids, ctx.read_part)
    errors: dict[str, str | None] = {}
    changes: list[tuple[Sim, things_service.ThingChange]] = []
    live = await repo.open_sessions(session, list(things)) if bulk.action == "lockIp" else {}
    for sid in thing_sids:
        thing = things.get(sid)
        if thing is None:
            errors[sid] = NotFound("Thing", sid).message
            continue
        change = _change(bulk)
        if bulk.action == "lockIp":  # the address is the Thing's own live one
            address = live[sid].ue_ip if sid in live else None
            if not address:
                reason = "The Thing has no live session whose address could be locked"
                errors[sid] = None if thing.locked_ip is not None else InvalidParameter("lockedIp", reason).message
                continue
            change.locked_ip = address
        changes.append((thing, change))
    outcomes = await things_service.update_many(session, ctx, caller, changes)
    for (thing, _), outcome in zip(changes, outcomes, strict=True):
        errors[thing.sid] = outcome.error.message if outcome.error is not None else None
    return [errors[sid] for sid in thing_sids]


async def run_batch(ctx: PlatformContext, payload: dict[str, Any]) -> None:
    """Job handler: chunks of a bulk action, each in its own transaction (see the module's docstring), back to back
    for up to `_JOB_SECONDS`; the last one queues the job that goes on. One job for many chunks spares each chunk a
    job of its own (its insert, claim and completion: a dozen round trips, the action's critical path)."""
    sid = str(payload["bulk_sid"])
    after = payload.get("after")
    deadline = time.monotonic() + _JOB_SECONDS
    while (after := await _run_chunk_of(ctx, sid, after, hand_over=time.monotonic() >= deadline)) is not None:
        await asyncio.sleep(0)  # the API's requests between chunks (they share the event loop)


async def _run_chunk_of(ctx: PlatformContext, sid: str, after: int | None, *, hand_over: bool) -> int | None:
    """One chunk in one transaction: the pending items after position `after` (every item up to it is done: items
    are taken in position order). Returns the chunk's last position when items remain and this job is to go on with
    them (`hand_over`: a new job is queued for them instead, in the chunk's transaction, with that position)."""
    more = finished = False
    async with ctx.sessions() as session, session.begin():
        now = utcnow()
        # The take and the read of the action in one statement (a round trip less per chunk).
        bulk = (
            await session.execute(
                update(BulkAction)
                .where(BulkAction.sid == sid, BulkAction.status.in_(rules.OPEN))
                .values(status=rules.RUNNING, date_updated=now)
                .returning(BulkAction)
                .execution_options(synchronize_session=False)
            )
        ).scalar_one_or_none()
        if bulk is None:
            return None  # completed or cancelled already
        caller = Caller(bulk.account_sid, "bulk:" + bulk.sid, frozenset({bulk.account_sid}))
        chunk = max(1, ctx.bulk_chunk)
        pending = (
            await session.execute(
                select(BulkItem.position, BulkItem.thing_sid)
                .where(BulkItem.bulk_sid == sid, BulkItem.outcome == rules.PENDING)
                # From where the last chunk stopped: on PostgreSQL the index still holds the done items' old
                # `pending` entries until a vacuum, and a scan from the first position walked them all (10 ms at
                # 31,000 done, growing with every chunk).
                .where(BulkItem.position > (after if after is not None else -1))
                .order_by(BulkItem.position)
                .limit(chunk)
            )
        ).all()
        errors = await _run_chunk(session, ctx, caller, bulk, [thing_sid for _, thing_sid in pending])
        await _record_outcomes(session, sid, [position for position, _ in pending], errors, now)
        failed = sum(error is not None for error in errors)
        await session.execute(
            update(BulkAction)
            .where(BulkAction.sid == sid)
            .values(succeeded=BulkAction.succeeded + len(errors) - failed, failed=BulkAction.failed + failed)
            .execution_options(synchronize_session=False)
        )
        last = pending[-1][0] if pending else after
        if len(pending) == chunk:
            if hand_over:
                enqueue(session, BULK_JOB, {"bulk_sid": sid, "after": last})
            more = not hand_over
        else:
            await session.execute(
                update(BulkAction)
                .where(BulkAction.sid == sid)
                .values(status=rules.COMPLETED, completed_at=utcnow())
                .execution_options(synchronize_session=False)
            )
            await session.refresh(bulk)
            await _announce(session, bulk)
            finished = True
    # The chunk's state changes (and a next job; at the end, the webhook) at once, not at the next poll.
    ctx.wake_workers(None if finished else (SIM_UPDATE_JOB, BULK_JOB))
    return last if more else None


async def _record_outcomes(
    session: AsyncSession, sid: str, positions: list[int], errors: list[str | None], at: datetime
) -> None:
    """The chunk's item outcomes: the succeeded ones in one UPDATE, the failed ones (each with its reason) in one
    executemany."""
    done = [position for position, error in zip(positions, errors, strict=True) if error is None]
    refused = [
        {"at_position": position, "reason": error}
        for position, error in zip(positions, errors, strict=True)
        if error is not None
    ]
    items = BulkItem.__table__
    if done:
        await session.execute(
            update(items)
            .where(items.c.bulk_sid == sid, among(items.c.position, done))
            .values(outcome=rules.SUCCEEDED, error=None, date_updated=at)
        )
    if refused:
        stmt = (
            update(items)
            .where(items.c.bulk_sid == sid, items.c.position == bindparam("at_position"))
            .values(outcome=rules.FAILED, error=bindparam("reason"), date_updated=at)
        )
        await session.execute(stmt, refused)


async def _announce(session: AsyncSession, bulk: BulkAction) -> None:
    await things_events.announce(
        session,
        bulk.account_sid,
        "bulkActionFinished",
        {
            "bulkActionId": bulk.sid,
            "action": bulk.action,
            "status": bulk.status,
            "total": str(bulk.total),
            "succeeded": str(bulk.succeeded),
            "failed": str(bulk.failed),
        },
        bulk.sid,
    )


async def counts(session: AsyncSession, sid: str) -> dict[str, int]:
    stmt = select(BulkItem.outcome, func.count()).where(BulkItem.bulk_sid == sid).group_by(BulkItem.outcome)
    return {outcome: int(n) for outcome, n in (await session.execute(stmt)).all()}


async def progress(session: AsyncSession, sids: Collection[str]) -> dict[str, BulkAction]:
    """The present state of the bulk actions open console pages follow (the console's live feed filters by
    account before showing anything)."""
    if not sids:
        return {}
    rows = (await session.execute(select(BulkAction).where(BulkAction.sid.in_(list(sids))))).scalars()
    return {bulk.sid: bulk for bulk in rows}
