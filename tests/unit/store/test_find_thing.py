"""A Thing fetched by sid or ICCID (store/repositories/things.find_thing) on real SQLite and PostgreSQL: only the
account's own Things are found, and on PostgreSQL the lookup walks a unique index even before the table's first
ANALYZE (the account's (account, product, status) index, filtered row by row, cost 16-25 ms a fetch at 100,000
Things: bench/bulk.py's probe). The Thing's view reads its live and newest sessions in one query when it can
(services/things.sessions_seen), with the same answer as the two reads it replaced."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncSession

from cellplane.services import things as service
from cellplane.store.db import make_engine, make_sessionmaker
from cellplane.store.models import Account, DataSession, Sim
from cellplane.store.repositories import things as repo
from tests.support.db import planted_database

ACCOUNT, OTHER = "AC" + "a" * 32, "AC" + "b" * 32
ANALYZED = "SELECT last_analyze, last_autoanalyze FROM pg_stat_user_tables WHERE relname = 'sims'"


def _sid(n: int, prefix: str = "TH") -> str:
    return prefix + format(n, "x").rjust(32, "0")


def _iccid(n: int) -> str:
    return f"8988307{n:012d}"


async def _plant(session: AsyncSession) -> None:
    if session.bind.dialect.name == "postgresql":  # no autovacuum's ANALYZE during the test: the planner stays blind
        await session.execute(text("ALTER TABLE sims SET (autovacuum_enabled = false)"))
    session.add_all([Account(sid=sid, friendly_name="n", auth_token="t" * 32) for sid in (ACCOUNT, OTHER)])
    await session.flush()
    for n in range(2000):
        session.add(
            Sim(
                sid=_sid(n, "HS" if n == 1999 else "TH"),
                product="supersim" if n == 1999 else "things",
                account_sid=OTHER if n == 1998 else ACCOUNT,
                iccid=_iccid(n),
                imsi=f"00101{n:010d}",
                registration_code="X",
                status="new",
            )
        )


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from planted_database(request.param, tmp_path_factory.mktemp("find-thing"), _plant)


async def _find(url: str, key: str, statements: list[tuple[str, Any]] | None = None) -> str | None:
    engine = make_engine(url)
    if statements is not None:
        event.listen(
            engine.sync_engine,
            "before_cursor_execute",
            lambda _conn, _cursor, statement, parameters, _context, _many: statements.append((statement, parameters)),
        )
    try:
        async with make_sessionmaker(engine)() as session:
            found = await repo.find_thing(session, ACCOUNT, key)
            return found.sid if found is not None else None
    finally:
        await engine.dispose()


async def test_the_accounts_own_things_only(database_url: str) -> None:
    assert await _find(database_url, _sid(1500)) == _sid(1500)
    assert await _find(database_url, _iccid(1500)) == _sid(1500)
    assert await _find(database_url, _sid(1998)) is None  # another account's Thing
    assert await _find(database_url, _iccid(1998)) is None
    assert await _find(database_url, _sid(1999, "HS")) is None  # a Super SIM of the account
    assert await _find(database_url, _sid(5000)) is None


async def test_the_lookup_walks_a_unique_index_before_any_analyze(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("a PostgreSQL plan")
    for key, index in ((_sid(1500), "pk_sims"), (_iccid(1500), "uq_sims_iccid")):
        statements: list[tuple[str, Any]] = []
        await _find(database_url, key, statements)
        [(statement, parameters)] = statements
        engine = make_engine(database_url)
        try:
            async with engine.connect() as connection:
                analyzed = (await connection.execute(text(ANALYZED))).one()
                driver = await connection.get_raw_connection()
                rows = await driver.driver_connection.fetch("EXPLAIN " + statement, *parameters)
        finally:
            await engine.dispose()
        plan = "\n".join(row[0] for row in rows)
        assert analyzed == (None, None), "the table was analyzed: this test no longer shows the planner's choice"
        assert index in plan and "ix_sims_account_product_status" not in plan, plan


def _session(number: int, thing: int, status: str) -> DataSession:
    return DataSession(
        sid="DS" + format(number, "x").rjust(32, "0"),  # sids grow with time, as new_sid's do
        account_sid=ACCOUNT,
        sim_sid=_sid(thing),
        imsi=f"00101{thing:010d}",
        nas_id="gw",
        acct_session_id=f"s{number}",
        status=status,
    )


async def test_the_views_sessions_one_thing_or_a_page(database_url: str) -> None:
    engine = make_engine(database_url)
    sessions = make_sessionmaker(engine)
    # Thing 10: none. 11: its newest is open. 12: its newest ended, an older one is still open. 13: all ended.
    async with sessions() as session, session.begin():
        session.add_all(
            [
                _session(1, 11, "closed"),
                _session(2, 11, "open"),
                _session(3, 12, "open"),
                _session(4, 12, "closed"),
                _session(5, 13, "closed"),
                _session(6, 13, "closed"),
            ]
        )

    def named(pair: tuple[DataSession | None, DataSession | None]) -> tuple[str | None, str | None]:
        return tuple(row.acct_session_id if row is not None else None for row in pair)  # type: ignore[return-value]

    try:
        async with sessions() as session:
            things = [await repo.find_thing(session, ACCOUNT, _sid(n)) for n in (10, 11, 12, 13)]
            assert all(thing is not None for thing in things)
            one_by_one = {thing.sid: (await service.sessions_seen(session, [thing]))[thing.sid] for thing in things}
            as_a_page = await service.sessions_seen(session, things)
    finally:
        await engine.dispose()
    expected = {10: (None, None), 11: ("s2", "s2"), 12: ("s3", "s4"), 13: (None, "s6")}
    assert {n: named(one_by_one[_sid(n)]) for n in expected} == expected  # a Thing's view
    assert {n: named(as_a_page[_sid(n)]) for n in expected} == expected  # a page of the list
