"""Direct point reads (store/direct.py) return what SQLAlchemy returns, on a real SQLite file and PostgreSQL."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from cellplane.store.db import make_engine, make_sessionmaker
from cellplane.store.direct import AsyncpgDirectReader, DirectReader, DirectReadUnavailable, direct_reader
from cellplane.store.migrate import upgrade
from cellplane.store.models import Account, Sim
from cellplane.store.repositories import sims as repo
from tests.support.server import create_postgres_database, drop_postgres_database, postgres_available

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")


@pytest.fixture(params=["sqlite", "postgres"])
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'direct.db'}"
    if request.param == "postgres":
        reason = postgres_available()
        if reason:
            pytest.skip(reason)
        url = await asyncio.to_thread(create_postgres_database)
    await asyncio.to_thread(upgrade, url)
    engine = make_engine(url)
    yield engine
    await engine.dispose()
    if request.param == "postgres":
        await asyncio.to_thread(drop_postgres_database, url)


async def _plant(engine: AsyncEngine) -> Sim:
    now = datetime(2026, 11, 22, 4, 5, 6, 789000, tzinfo=UTC)
    sim = Sim(
        sid="HS" + "1" * 32,
        product="supersim",
        account_sid="AC" + "a" * 32,
        iccid="8988307000000000018",
        imsi="901530000000001",
        registration_code="CODE12345",
        unique_name="tracker-1",
        status="active",
        claimed_at=now,
        date_created=now,
        date_updated=now,
    )
    async with make_sessionmaker(engine)() as session, session.begin():
        session.add(Account(sid=sim.account_sid, auth_token="t" * 32, date_created=now, date_updated=now))
        session.add(sim)
    return sim


async def _reader(engine: AsyncEngine) -> DirectReader:
    reader = direct_reader(engine)
    assert reader is not None
    return reader


async def test_direct_row_equals_the_sqlalchemy_row(engine: AsyncEngine) -> None:
    sim = await _plant(engine)
    reader = await _reader(engine)
    try:
        for key in (sim.sid, "tracker-1"):
            direct = await repo.find_visible_direct(reader, key, [sim.account_sid], "supersim")
            async with engine.connect() as connection:
                orm = await repo.find_visible_row(connection, key, [sim.account_sid], "supersim")
            assert direct is not None and orm is not None
            for column in repo.RESOURCE_COLUMNS:
                assert getattr(direct, column.key) == getattr(orm, column.key), column.key
            assert direct.claimed_at == datetime(2026, 11, 22, 4, 5, 6, 789000, tzinfo=UTC)
            assert direct.claimed_at.tzinfo is not None
        assert await repo.find_visible_direct(reader, sim.sid, ["AC" + "b" * 32], "supersim") is None
        assert await repo.find_visible_direct(reader, sim.sid, [sim.account_sid], "wireless") is None
        with pytest.raises(DirectReadUnavailable):
            await repo.find_visible_direct(reader, sim.sid, [sim.account_sid, "AC" + "b" * 32], "supersim")
    finally:
        await reader.close()


async def test_busy_sqlite_file_is_refused_at_once_not_waited_for(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'busy.db'}"
    await asyncio.to_thread(upgrade, url)
    engine = make_engine(url)
    sim = await _plant(engine)
    await engine.dispose()
    reader = await _reader(make_engine(url))
    # A writer holding the WAL in exclusive locking mode keeps every other connection out.
    holder = sqlite3.connect(tmp_path / "busy.db", isolation_level=None)
    holder.execute("PRAGMA locking_mode=EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(DirectReadUnavailable):
            await repo.find_visible_direct(reader, sim.sid, [sim.account_sid], "supersim")
    finally:
        holder.execute("COMMIT")
        holder.close()
        await reader.close()


def test_no_direct_reader_for_an_in_memory_database() -> None:
    assert direct_reader(make_engine("sqlite+aiosqlite:///:memory:")) is None


async def test_postgres_readers_share_a_bounded_set_of_connections(tmp_path: Path) -> None:
    reason = postgres_available()
    if reason:
        pytest.skip(reason)
    url = await asyncio.to_thread(create_postgres_database)
    await asyncio.to_thread(upgrade, url)
    engine = make_engine(url)
    try:
        sim = await _plant(engine)
        reader = direct_reader(engine)
        assert isinstance(reader, AsyncpgDirectReader)
        reader.max_size = 3

        async def read() -> object:
            return await repo.find_visible_direct(reader, sim.sid, [sim.account_sid], "supersim")

        rows = await asyncio.gather(*(read() for _ in range(40)))
        assert all(row is not None and row.sid == sim.sid for row in rows)
        assert reader._open <= 3
        # Readers cancelled while they wait for a connection neither leak it nor wedge the others.
        waiting = [asyncio.ensure_future(read()) for _ in range(12)]
        await asyncio.sleep(0)
        for task in waiting[::2]:
            task.cancel()
        done = await asyncio.gather(*waiting, return_exceptions=True)
        assert sum(isinstance(item, asyncio.CancelledError) for item in done) <= 6
        assert await asyncio.wait_for(read(), timeout=10) is not None
        assert len(reader._idle) == reader._open <= 3
        await reader.close()
        with pytest.raises(DirectReadUnavailable):
            await read()
    finally:
        await engine.dispose()
        await asyncio.to_thread(drop_postgres_database, url)
