"""`among(column, values)` (store/value_lists.py) on real SQLite and PostgreSQL: the rows of the list and only them,
for strings and integers, in SELECT and UPDATE, for an empty list, and with one compiled statement (one cache entry,
one parameter) whatever the list's length, which is why it replaced `in_()` on the bulk path."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from cellplane.store.db import make_engine, make_sessionmaker
from cellplane.store.models import Account, BulkAction, BulkItem
from cellplane.store.value_lists import ValueList, among
from tests.support.db import planted_database

ACCOUNT = "AC" + "c" * 32
BULK = "BK" + "0" * 32
ITEMS = 1500  # over SQLite's old limit of 999 bound parameters, which one list parameter does not meet


def _thing(n: int) -> str:
    return "TH" + format(n, "x").rjust(32, "0")


async def _plant(session: AsyncSession) -> None:
    session.add(Account(sid=ACCOUNT, friendly_name="n", auth_token="t" * 32))
    await session.flush()
    session.add(BulkAction(sid=BULK, account_sid=ACCOUNT, action="activate", parameters={}, status="running"))
    await session.flush()
    session.add_all([BulkItem(bulk_sid=BULK, position=n, thing_sid=_thing(n), outcome="pending") for n in range(ITEMS)])


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from planted_database(request.param, tmp_path_factory.mktemp("value-lists"), _plant)


async def _in_session(url: str, work: Any, statements: list[tuple[str, Any]] | None = None) -> Any:
    engine = make_engine(url)
    if statements is not None:
        event.listen(engine.sync_engine, "before_cursor_execute", lambda *a: statements.append((a[2], a[3])))
    try:
        async with make_sessionmaker(engine)() as session, session.begin():
            result = await work(session)
            await session.rollback()
            return result
    finally:
        await engine.dispose()


async def _positions_of(session: AsyncSession, things: list[str]) -> list[int]:
    stmt = select(BulkItem.position).where(BulkItem.bulk_sid == BULK, among(BulkItem.thing_sid, things))
    return sorted((await session.execute(stmt)).scalars())


@pytest.mark.asyncio
async def test_strings_select_the_listed_rows_and_only_them(database_url: str) -> None:
    wanted = [_thing(n) for n in range(0, ITEMS, 3)] + ["TH-not-there"]

    async def work(session: AsyncSession) -> tuple[list[int], list[int], list[int]]:
        return (
            await _positions_of(session, wanted),
            await _positions_of(session, [_thing(7)]),
            await _positions_of(session, []),
        )

    many, one, none = await _in_session(database_url, work)
    assert many == list(range(0, ITEMS, 3))
    assert one == [7]
    assert none == []


@pytest.mark.asyncio
async def test_integers_update_the_listed_rows_and_only_them(database_url: str) -> None:
    chosen = list(range(100, 1300, 2))

    async def work(session: AsyncSession) -> tuple[int, list[int], int]:
        items = BulkItem.__table__
        changed = await session.execute(
            update(items).where(items.c.bulk_sid == BULK, among(items.c.position, chosen)).values(outcome="succeeded")
        )
        done = select(BulkItem.position).where(BulkItem.bulk_sid == BULK, BulkItem.outcome == "succeeded")
        empty = await session.execute(
            update(items).where(items.c.bulk_sid == BULK, among(items.c.position, [])).values(outcome="failed")
        )
        return changed.rowcount, sorted((await session.execute(done)).scalars()), empty.rowcount

    rowcount, done, empty = await _in_session(database_url, work)
    assert rowcount == len(chosen)
    assert done == chosen
    assert empty == 0


@pytest.mark.asyncio
async def test_one_statement_and_one_parameter_whatever_the_length(database_url: str) -> None:
    statements: list[tuple[str, Any]] = []

    async def work(session: AsyncSession) -> list[list[int]]:
        return [await _positions_of(session, [_thing(n) for n in range(size)]) for size in (1, 10, 999, 1500)]

    found = await _in_session(database_url, work, statements)
    assert [len(positions) for positions in found] == [1, 10, 999, 1500]
    selects = [(sql, params) for sql, params in statements if sql.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 4
    assert len({sql for sql, _ in selects}) == 1  # one text: one cache entry, one prepared statement
    assert all(len(params) == 2 for _, params in selects)  # the bulk's sid and the list


@pytest.mark.asyncio
async def test_sqlite_searches_by_the_columns_index(database_url: str) -> None:
    """The predicate stands alone in the WHERE: compared with `= 1` (how SQLAlchemy writes a boolean expression
    it does not know as one, on SQLite), the planner scanned the whole table for every chunk of a bulk action."""
    if not database_url.startswith("sqlite"):
        pytest.skip("an SQLite plan (PostgreSQL's array comparison is covered by the tests above)")
    items = BulkItem.__table__
    stmt = update(items).where(items.c.bulk_sid == BULK, among(items.c.position, [1, 2])).values(outcome="x")

    async def work(session: AsyncSession) -> list[str]:
        compiled = stmt.compile(dialect=session.bind.dialect)
        params = compiled.construct_params()
        bound = [
            ValueList().process_bind_param(params[k], session.bind.dialect) if k.startswith("among") else params[k]
            for k in compiled.positiontup or []
        ]
        connection = await session.connection()
        rows = await connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", tuple(bound))
        return [str(row[3]) for row in rows]

    plan = await _in_session(database_url, work)
    assert any(step.startswith("SEARCH things_bulk_items USING") and "position=?" in step for step in plan), plan
    assert not any(step.startswith("SCAN things_bulk_items") for step in plan), plan
