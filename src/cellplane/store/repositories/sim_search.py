"""The SIM list's search: keyset pages of the SIMs matching filters, an ICCID or a name, or their start.

A page of N SIMs reads N + 1 entries of an index whose order is the page's order, wherever the matches lie and however
many there are:

- filters alone, an exact ICCID or name, or sids found elsewhere: in sid order (the (account_sid, sid) index);
- the start of an ICCID: in ICCID order, by the (account_sid, iccid, sid) index; the start of a name: in name order,
  by the (account_sid, unique_name, sid) index. Both are unique within the account, so the key alone places a page.

Why not sid order for a prefix: its matches are not in sid order in any index, so a page either sorted every match
(100,000 matches of a million SIMs: ~33 ms of index read for 50 rows, 76-106 ms p99) or walked sid order hoping to
meet them (500,000 rows when they lie in the middle). In the key's own order the same page reads 51 entries. A person
who types the start of an ICCID reads the answer in ICCID order anyway.

The cursor stays the sid of a page's first or last SIM (what the console's links carry); for a prefix page its key
is read by primary key. Only the columns the list shows are read.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import load_only

from cellplane.domain.errors import InvalidParameter
from cellplane.domain.paging import Page, PageSpec
from cellplane.store.models import Sim
from cellplane.store.repositories.paging import keyset_page

# What the list shows of a SIM (and what it needs to show it): the rest of a row (JSON settings, counters, ...)
# stays in the database.
LISTED = (
    Sim.sid,
    Sim.account_sid,
    Sim.product,
    Sim.iccid,
    Sim.unique_name,
    Sim.friendly_name,
    Sim.status,
    Sim.fleet_sid,
    Sim.rate_plan_sid,
)


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


def _conditions(account_sid: str, search: SimSearch) -> list[Any]:
    found = [Sim.account_sid == account_sid]
    for column, value in (
        (Sim.product, search.product),
        (Sim.status, search.status),
        (Sim.fleet_sid, search.fleet_sid),
        (Sim.rate_plan_sid, search.rate_plan_sid),
        (Sim.iccid, search.iccid),
        (Sim.unique_name, search.name),
    ):
        if value is not None:
            found.append(column == value)
    if search.iccid_prefix is not None:
        found.append(prefix_range(Sim.iccid, search.iccid_prefix))
    if search.name_prefix is not None:
        found.append(prefix_range(Sim.unique_name, search.name_prefix))
    if search.sim_sids is not None:
        found.append(Sim.sid.in_(list(search.sim_sids)))
    return found


def page_order(search: SimSearch) -> str:
    """The column a search's pages are in: `iccid` or `unique_name` for a prefix, else `sid`."""
    if search.iccid_prefix is not None:
        return "iccid"
    return "unique_name" if search.name_prefix is not None else "sid"


async def search_sims(session: AsyncSession, account_sid: str, search: SimSearch, spec: PageSpec) -> Page[Sim]:
    if search.sim_sids is not None and not search.sim_sids:
        # Nothing to look for: no query (an empty IN is not folded by every planner: it scanned the account).
        return Page(items=[], has_next=False, has_previous=False)
    stmt: Select[Any] = select(Sim).options(load_only(*LISTED)).where(*_conditions(account_sid, search))
    order = page_order(search)
    if order == "sid" or spec.offset:
        return await keyset_page(session, stmt, Sim.sid, spec)
    key = getattr(Sim, order)
    spec = replace(
        spec,
        after=await _key_of(session, account_sid, key, spec.after, "after"),
        before=await _key_of(session, account_sid, key, spec.before, "before"),
    )
    page = await keyset_page(session, stmt, key, spec)
    # The page's ends as sids again: the cursor a link carries.
    page.first_key = page.items[0].sid if page.items else None
    page.last_key = page.items[-1].sid if page.items else None
    return page


async def _key_of(session: AsyncSession, account_sid: str, key: Any, sid: str | None, name: str) -> str | None:
    """The ICCID or name of the SIM a cursor names (one read by primary key)."""
    if sid is None:
        return None
    found = (await session.execute(select(key).where(Sim.sid == sid, Sim.account_sid == account_sid))).scalar()
    if found is None:
        raise InvalidParameter(name, f"{name} must be a SIM sid from a previous page of this search")
    return str(found)
