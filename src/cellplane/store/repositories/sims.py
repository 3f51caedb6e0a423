"""Queries on SIMs; every customer query is scoped by account."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import BindParameter, Select, bindparam, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.orm.attributes import instance_state, set_committed_value

from cellplane.domain.ids import Prefix, is_sid
from cellplane.domain.paging import Page, PageSpec
from cellplane.domain.turns import in_turns
from cellplane.store.direct import DirectReader, DirectReadUnavailable
from cellplane.store.models import Sim
from cellplane.store.repositories.paging import keyset_page
from cellplane.store.value_lists import among


# The hot lookups are built once, with bound parameters: building a SELECT per request costs more
# CPU than the SQLite query itself (bench/RESULTS.md, API section), and a prebuilt statement keeps
# its cache key, so SQLAlchemy goes straight to the compiled form. A caller without subaccounts sees
# one account: plain equality spares the per-execution expansion of an IN list.
def _visible(key: InstrumentedAttribute[Any], many_accounts: bool) -> Select[Any]:
    accounts: BindParameter[Any] = bindparam("accounts", expanding=many_accounts)
    account = Sim.account_sid.in_(accounts) if many_accounts else Sim.account_sid == accounts
    return select(Sim).where(Sim.product == bindparam("product"), account, key == bindparam("key")).limit(2)


_FIND_VISIBLE = {
    (by_sid, many): _visible(Sim.sid if by_sid else Sim.unique_name, many)
    for by_sid in (True, False)
    for many in (True, False)
}
_BY_ICCID = select(Sim).where(Sim.iccid == bindparam("iccid"))


# The same lookup as a Core read of the table: no ORM session or identity map, for the hot
# GET /Sims/{Sid} path (bench/RESULTS.md: the ORM session was the largest cost beyond the bare handler).
_FIND_VISIBLE_ROW = {key: stmt.with_only_columns(*Sim.__table__.c) for key, stmt in _FIND_VISIBLE.items()}

# What a SIM's resource shows (both surfaces' `render`): the direct read fetches these columns only, since
# converting the other two dozen costs more than finding the row.
RESOURCE_COLUMNS = (
    Sim.sid,
    Sim.unique_name,
    Sim.account_sid,
    Sim.iccid,
    Sim.status,
    Sim.fleet_sid,
    Sim.claimed_at,
    Sim.date_created,
    Sim.date_updated,
)
_FIND_VISIBLE_RESOURCE = {key: stmt.with_only_columns(*RESOURCE_COLUMNS) for key, stmt in _FIND_VISIBLE.items()}


async def find_visible_row(
    connection: AsyncConnection, key: str, visible: Iterable[str], product: str
) -> Row[Any] | None:
    """`find_visible` on a plain connection, returning the row (same attribute names as a Sim)."""
    accounts = list(visible)
    many = len(accounts) != 1
    prefix = Prefix.SUPER_SIM if product == "supersim" else Prefix.WIRELESS_SIM
    stmt = _FIND_VISIBLE_ROW[is_sid(key, prefix), many]
    params = {"product": product, "key": key, "accounts": accounts if many else accounts[0]}
    return (await connection.execute(stmt, params)).first()


async def find_visible_direct(reader: DirectReader, key: str, visible: Iterable[str], product: str) -> Any | None:
    """`find_visible_row` on the driver itself (store/direct.py), for a caller that sees one account; the row
    holds RESOURCE_COLUMNS only.

    Raises DirectReadUnavailable for a parent that sees several (an expanding IN list) or a busy file.
    """
    accounts = list(visible)
    if len(accounts) != 1:
        raise DirectReadUnavailable("a caller with subaccounts reads through SQLAlchemy")
    prefix = Prefix.SUPER_SIM if product == "supersim" else Prefix.WIRELESS_SIM
    stmt = _FIND_VISIBLE_RESOURCE[is_sid(key, prefix), False]
    return await reader.first(stmt, {"product": product, "key": key, "accounts": accounts[0]})


async def find_visible(session: AsyncSession, key: str, visible: Iterable[str], product: str) -> Sim | None:
    """A SIM by sid, or by unique name within the caller's own accounts."""
    accounts = list(visible)
    many = len(accounts) != 1
    prefix = Prefix.SUPER_SIM if product == "supersim" else Prefix.WIRELESS_SIM
    stmt = _FIND_VISIBLE[is_sid(key, prefix), many]
    params = {"product": product, "key": key, "accounts": accounts if many else accounts[0]}
    return (await session.execute(stmt, params)).scalars().first()


async def by_iccid(session: AsyncSession, iccid: str) -> Sim | None:
    return (await session.execute(_BY_ICCID, {"iccid": iccid})).scalar_one_or_none()


async def by_imsi(session: AsyncSession, imsi: str) -> Sim | None:
    return (await session.execute(select(Sim).where(Sim.imsi == imsi))).scalar_one_or_none()


async def unique_name_taken(session: AsyncSession, account_sid: str, name: str, except_sid: str) -> bool:
    stmt = select(Sim.sid).where(Sim.account_sid == account_sid, Sim.unique_name == name, Sim.sid != except_sid)
    return (await session.execute(stmt.limit(1))).first() is not None


async def claim_unowned(session: AsyncSession, sim: Sim, account_sid: str, at: datetime) -> bool:
    """Give an inventory SIM to `account_sid` if no account holds it now: one conditional UPDATE, so of two claims
    at once exactly one matches the row (the other waits for it on either backend, then matches nothing)."""
    return await write_if(
        session, sim, {"account_sid": None}, account_sid=account_sid, claimed_at=at, date_created=at, date_updated=at
    )


async def lock_for_completion(
    session: AsyncSession, sids: Sequence[str], at: datetime, part_size: int = 100
) -> list[Sim]:
    """These SIMs, locked for the rest of the transaction and read `part_size` at a time (building rows into objects
    holds the event loop, which the API may share: PlatformContext.read_part). On SQLite the first statement is a
    write (those in flight are stamped): it takes the database's write lock before anything is read, as a read first
    could not become a write once another writer committed. On PostgreSQL the rows are read FOR UPDATE."""
    if session.bind.dialect.name == "sqlite":
        for start in range(0, len(sids), 900):
            part = list(sids[start : start + 900])
            stmt = update(Sim).where(among(Sim.sid, part), Sim.status == "scheduled").values(date_updated=at)
            await session.execute(stmt.execution_options(synchronize_session=False))
    found: list[Sim] = []
    for start in range(0, len(sids), part_size):
        part = list(sids[start : start + part_size])
        found.extend((await session.execute(select(Sim).where(among(Sim.sid, part)).with_for_update())).scalars())
    return found


async def set_values(session: AsyncSession, sims: Sequence[Sim], values: dict[str, Any], status: str) -> bool:
    """write_if for many: give these loaded SIMs, all seen in `status`, the same new values, a statement per 900 rows,
    only where the status is still that. True when every row matched; the loaded SIMs then show the new values
    without being marked dirty."""
    matched = 0
    # Parts of 900 on SQLite, whose one write lock each statement holds; PostgreSQL takes a bulk chunk in one.
    size = 900 if session.get_bind().dialect.name == "sqlite" else 5000
    for start in range(0, len(sims), size):
        part = [sim.sid for sim in sims[start : start + size]]
        # `status || ''`: the same test, but no index can serve it, so the rows are found by primary key. With a
        # plain `status = ...`, PostgreSQL on a fleet just provisioned (statistics not yet taken) expected one row
        # and walked the (account, product, status) index for every chunk: 85 ms for 200 rows instead of 7.
        stmt = update(Sim).where(among(Sim.sid, part), Sim.status.concat("") == status).values(**values)
        result = await session.execute(stmt.execution_options(synchronize_session=False))
        matched += getattr(result, "rowcount", 0)
    if matched != len(sims):
        return False
    names = list(values)
    # Hundreds of SIMs: the API's requests get turns between (they share the loop).
    async for sim in in_turns(sims, 100):
        # set_committed_value for all the names at once (per name, InstanceState._commit was 9 % of a bulk action's
        # samples in a profile of 20,000 Things on PostgreSQL).
        state = instance_state(sim)
        state.dict.update(values)
        state._commit(state.dict, names)
    return True


async def write_if(session: AsyncSession, sim: Sim, seen: dict[str, Any], **values: Any) -> bool:
    """Write `values` to the SIM's row only if its columns still hold what was `seen` when it was read.

    The lifecycle's state (status, pending change, fleet, owner) changes only through here: the check and the write
    are one statement, so a request that lost a race to another writer changes nothing and learns it (False). On
    success the loaded `sim` shows the new values without being marked dirty."""
    conditions = [Sim.sid == sim.sid]
    for name, value in seen.items():
        column = getattr(Sim, name)
        conditions.append(column.is_(None) if value is None else column == value)
    result = await session.execute(
        update(Sim).where(*conditions).values(**values).execution_options(synchronize_session=False)
    )
    if getattr(result, "rowcount", 0) != 1:
        return False
    for name, value in values.items():
        set_committed_value(sim, name, value)
    return True


def list_query(account_sid: str | Iterable[str], product: str) -> Select[tuple[Sim]]:
    """SIMs of one account, or of several (a parent's list shows its subaccounts' SIMs too)."""
    if isinstance(account_sid, str):
        return select(Sim).where(Sim.account_sid == account_sid, Sim.product == product)
    accounts = list(account_sid)
    if len(accounts) == 1:
        return select(Sim).where(Sim.account_sid == accounts[0], Sim.product == product)
    return select(Sim).where(Sim.account_sid.in_(accounts), Sim.product == product)


async def page(session: AsyncSession, stmt: Select[tuple[Sim]], spec: PageSpec) -> Page[Sim]:
    return await keyset_page(session, stmt, Sim.sid, spec)
