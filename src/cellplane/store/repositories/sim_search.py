"""The SIM list's search: keyset pages in sid order of the SIMs matching filters, an ICCID or name, or their start.

Why its own plan for a prefix: a range of ICCIDs (or names) ordered by sid lets PostgreSQL walk the primary key and
filter, expecting the matches spread over the account. ICCIDs and names are given in batches, so the matches lie
together: with a million SIMs, a page of the 10,000 in the middle read 500,000 rows (165-370 ms). So a prefix search
(bench/RESULTS.md "Console" has the plans):

1. counts its matches, at most RANGE_SORT_CAP + 1, from the (account_sid, iccid | unique_name, sid) index alone;
2. with at most that many, sorts their sids (from that index, no row read) and reads the page's rows by key;
3. with more, walks RANGE_WALK SIMs in sid order from the cursor and keeps the matches: common matches fill a page;
4. when the walk does not fill a page (many matches, but further on), sorts them all as in 2.

`OFFSET 0` / `LIMIT` in a subquery keep the planner from merging it into the outer query (and from walking sid
order again). Every path returns what keyset_page returns for the same query: the same SIMs, order and flags.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cellplane.domain.paging import Page, PageSpec
from cellplane.store.models import Sim
from cellplane.store.repositories.paging import keyset_page

RANGE_SORT_CAP = 10_000  # matches sorted whole: ~3 ms from the index (1M SIMs, PostgreSQL 15)
RANGE_WALK = 10_000  # SIMs walked in sid order when the matches are more


@dataclass(frozen=True)
class SimSearch:
    """The SIM list's filters: `iccid` and `name` match exactly, `iccid_prefix` and `name_prefix` match a start,
    `sim_sids` restricts to SIMs found elsewhere (empty: nothing matches)."""

    product: str | None = None
    status: str | None = None
    fleet_sid: str | None = None
    rate_plan_sid: str | None = None
    iccid: str | None = None
    iccid_prefix: str | None = None
    name: str | None = None
    name_prefix: str | None = None
    sim_sids: Collection[str] | None = None


def prefix_range(column: Any, prefix: str) -> Any:
    """`column` starts with `prefix`, as a range an ordinary B-tree index serves (LIKE may not, by collation): from
    the prefix to the prefix with its last character's successor ("8988" -> ["8988", "8989"))."""
    return (column >= prefix) & (column < prefix[:-1] + chr(ord(prefix[-1]) + 1))


def _conditions(table: Any, account_sid: str, search: SimSearch) -> list[Any]:
    """The search as conditions on `table`: the sims table, or a subquery's columns of the same names."""
    found = [table.account_sid == account_sid]
    for column, value in (
        ("product", search.product),
        ("status", search.status),
        ("fleet_sid", search.fleet_sid),
        ("rate_plan_sid", search.rate_plan_sid),
        ("iccid", search.iccid),
        ("unique_name", search.name),
    ):
        if value is not None:
            found.append(getattr(table, column) == value)
    if search.iccid_prefix is not None:
        found.append(prefix_range(table.iccid, search.iccid_prefix))
    if search.name_prefix is not None:
        found.append(prefix_range(table.unique_name, search.name_prefix))
    if search.sim_sids is not None:
        found.append(table.sid.in_(list(search.sim_sids)))
    return found


async def search_sims(session: AsyncSession, account_sid: str, search: SimSearch, spec: PageSpec) -> Page[Sim]:
    if search.sim_sids is not None and not search.sim_sids:
        # Nothing to look for: no query (an empty IN is not folded by every planner: it scanned the account).
        return Page(items=[], has_next=False, has_previous=False)
    stmt: Select[Any] = select(Sim).where(*_conditions(Sim, account_sid, search))
    if (search.iccid_prefix is None and search.name_prefix is None) or spec.offset:
        return await keyset_page(session, stmt, Sim.sid, spec)
    if not await _at_most(session, stmt, RANGE_SORT_CAP):
        page = await _walked_page(session, account_sid, search, spec)
        if page is not None:
            return page
    return await _sorted_page(session, stmt, spec)


async def _at_most(session: AsyncSession, stmt: Select[Any], cap: int) -> bool:
    """Whether `stmt` matches at most `cap` SIMs, reading no more than cap + 1 entries of an index."""
    probe = stmt.with_only_columns(Sim.sid).limit(cap + 1).subquery()
    return int((await session.execute(select(func.count()).select_from(probe))).scalar_one()) <= cap


async def _sorted_page(session: AsyncSession, stmt: Select[Any], spec: PageSpec) -> Page[Sim]:
    """The page from every match's sid, sorted: the sids from their own index, then the page's rows by key."""
    matches = _after_cursor(stmt.with_only_columns(Sim.sid), Sim.sid, spec)
    fenced = matches.offset(0).subquery()
    chosen = select(fenced.c.sid).order_by(_order(fenced.c.sid, spec)).limit(spec.size + 1)
    return await _page_of(session, chosen, spec)


async def _walked_page(session: AsyncSession, account_sid: str, search: SimSearch, spec: PageSpec) -> Page[Sim] | None:
    """The page from the next RANGE_WALK SIMs in sid order, or None when fewer than a page and one match there."""
    window = _after_cursor(
        select(
            Sim.sid,
            Sim.account_sid,
            Sim.product,
            Sim.status,
            Sim.fleet_sid,
            Sim.rate_plan_sid,
            Sim.iccid,
            Sim.unique_name,
        ).where(Sim.account_sid == account_sid),
        Sim.sid,
        spec,
    )
    walked = window.order_by(_order(Sim.sid, spec)).limit(RANGE_WALK).subquery()
    chosen = (
        select(walked.c.sid)
        .where(*_conditions(walked.c, account_sid, search))
        .order_by(_order(walked.c.sid, spec))
        .limit(spec.size + 1)
    )
    sids = list((await session.execute(chosen)).scalars())
    if len(sids) <= spec.size:
        return None  # the rest may lie beyond the window: the sorted page is right either way
    return await _page_of(session, sids, spec)


def _after_cursor(stmt: Select[Any], sid: Any, spec: PageSpec) -> Select[Any]:
    if spec.before is not None:
        return stmt.where(sid < spec.before)
    return stmt.where(sid > spec.after) if spec.after is not None else stmt


def _order(sid: Any, spec: PageSpec) -> Any:
    """Away from the cursor: descending before it (the page is turned round afterwards)."""
    return sid.desc() if spec.before is not None else sid.asc()


async def _page_of(session: AsyncSession, chosen: Any, spec: PageSpec) -> Page[Sim]:
    """The rows of up to size + 1 chosen sids (a subquery or a list), as keyset_page would page them."""
    stmt = select(Sim).where(Sim.sid.in_(chosen)).order_by(_order(Sim.sid, spec))
    rows = list((await session.execute(stmt)).scalars())
    more = len(rows) > spec.size
    rows = rows[: spec.size]
    if spec.before is not None:
        rows.reverse()
        has_next, has_previous = True, more
    else:
        has_next, has_previous = more, spec.after is not None
    first = rows[0].sid if rows else None
    last = rows[-1].sid if rows else None
    return Page(items=rows, has_next=has_next, has_previous=has_previous, first_key=first, last_key=last)
