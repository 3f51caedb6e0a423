"""Queries of Things' tags, bulk actions and IMEI changes (issue 18); every one is scoped by account."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from cellplane.store.models import ThingTag
from cellplane.store.value_lists import among


async def tags_of(session: AsyncSession, thing_sids: Collection[str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {sid: [] for sid in thing_sids}
    if not thing_sids:
        return found
    stmt = select(ThingTag.thing_sid, ThingTag.tag).where(among(ThingTag.thing_sid, thing_sids))
    for thing, tag in (await session.execute(stmt.order_by(ThingTag.thing_sid, ThingTag.tag))).all():
        found[thing].append(tag)
    return found


async def replace_tags_many(
    session: AsyncSession, account_sid: str, changes: Sequence[tuple[str, Sequence[str], Sequence[str]]]
) -> None:
    """replace_tags for many Things (thing sid, current tags, wanted tags): one DELETE per tag removed, one INSERT."""
    gone: dict[str, list[str]] = {}
    rows: list[dict[str, str]] = []
    for thing_sid, current, wanted in changes:
        for tag in current:
            if tag not in wanted:
                gone.setdefault(tag, []).append(thing_sid)
        new = [tag for tag in wanted if tag not in current]
        rows.extend({"thing_sid": thing_sid, "tag": tag, "account_sid": account_sid} for tag in new)
    for tag, sids in gone.items():
        for start in range(0, len(sids), 900):
            part = sids[start : start + 900]
            await session.execute(delete(ThingTag).where(ThingTag.tag == tag, among(ThingTag.thing_sid, part)))
    if rows:
        await session.execute(insert(ThingTag), rows)


async def tag_counts(session: AsyncSession, account_sid: str) -> list[tuple[str, int]]:
    stmt = (
        select(ThingTag.tag, func.count())
        .where(ThingTag.account_sid == account_sid)
        .group_by(ThingTag.tag)
        .order_by(ThingTag.tag)
    )
    return [(tag, int(count)) for tag, count in (await session.execute(stmt)).all()]


def tagged(account_sid: str, tag: str):  # type: ignore[no-untyped-def]
    """The sids of the account's Things with `tag`, as a subquery for `Sim.sid.in_(...)`."""
    return select(ThingTag.thing_sid).where(ThingTag.account_sid == account_sid, ThingTag.tag == tag)
