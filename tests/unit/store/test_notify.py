"""Change notifications (store/notify.py) on a real PostgreSQL: what the session's writes send, read back by the
listener the AAA uses; and the payload format's limits."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from sqlalchemy import delete, text, update

from cellplane.store.db import make_engine, make_sessionmaker
from cellplane.store.models import Account, Fleet, NetworkAccessProfile, NetworkAccessProfileNetwork, Sim
from cellplane.store.notify import ChangeListener, Key, listen_dsn, parse, payloads
from tests.support.db import migrated_database

ACCOUNT = "AC" + "a" * 32
PROFILE = "HA" + "b" * 32
FLEET = "HF" + "c" * 32
SIM = "HS" + "d" * 32


@pytest.fixture(scope="module")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from migrated_database("postgres", tmp_path_factory.mktemp("notify"))


class Heard:
    def __init__(self) -> None:
        self.keys: set[Key] = set()
        self.changed = asyncio.Event()
        self.reconnects = 0

    async def changes(self, keys: set[Key]) -> None:
        self.keys |= keys
        self.changed.set()

    async def reconnected(self) -> None:
        self.reconnects += 1

    async def expect(self, *keys: Key) -> None:
        async with asyncio.timeout(5):
            while not set(keys) <= self.keys:
                self.changed.clear()
                await self.changed.wait()


@pytest.fixture
async def heard(database_url: str) -> AsyncIterator[tuple[Heard, ChangeListener]]:
    engine = make_engine(database_url)
    dsn = listen_dsn(engine)
    assert dsn is not None
    found = Heard()
    listener = ChangeListener(dsn, found.changes, found.reconnected)
    await listener.start()
    assert listener.connected.is_set()
    yield found, listener
    await listener.stop()
    await engine.dispose()


async def test_writes_to_watched_rows_notify_once_committed(database_url: str, heard: tuple[Heard, Any]) -> None:
    found, _ = heard
    engine = make_engine(database_url)
    sessions = make_sessionmaker(engine)
    async with sessions() as session, session.begin():  # the unit of work's inserts
        session.add(Account(sid=ACCOUNT, friendly_name="n", auth_token="t" * 32))
        await session.flush()
        session.add(NetworkAccessProfile(sid=PROFILE, account_sid=ACCOUNT))
        await session.flush()
        session.add(NetworkAccessProfileNetwork(network_access_profile_sid=PROFILE, network_sid="HW" + "e" * 32))
        session.add(Fleet(sid=FLEET, account_sid=ACCOUNT, network_access_profile_sid=PROFILE, unique_name="f"))
        sim = Sim(sid=SIM, iccid="8988307000000000001", imsi="001010000000001", status="new", registration_code="X")
        session.add(sim)
    await found.expect(("profile", PROFILE), ("fleet", FLEET), ("sim", SIM))

    found.keys.clear()
    async with sessions() as session, session.begin():  # a statement naming its rows by = and IN
        await session.execute(update(Sim).where(Sim.sid == SIM).values(status="active"))
        await session.execute(update(Fleet).where(Fleet.sid.in_([FLEET])).values(data_enabled=False))
    await found.expect(("sim", SIM), ("fleet", FLEET))

    found.keys.clear()
    async with sessions() as session, session.begin():  # rows it cannot name: the whole kind
        await session.execute(update(Sim).where(Sim.status == "active").values(status="inactive"))
    await found.expect(("sim", "*"))

    found.keys.clear()
    with pytest.raises(RuntimeError):
        async with sessions() as session, session.begin():  # rolled back: nothing is sent
            await session.execute(
                delete(NetworkAccessProfileNetwork).where(
                    NetworkAccessProfileNetwork.network_access_profile_sid == PROFILE
                )
            )
            raise RuntimeError("abandon")
    async with sessions() as session, session.begin():
        await session.execute(update(Fleet).where(Fleet.sid == FLEET).values(data_enabled=True))
    await found.expect(("fleet", FLEET))
    assert ("profile", PROFILE) not in found.keys  # the rolled-back delete sent nothing
    await engine.dispose()


async def test_the_listener_reconnects_and_asks_for_a_poll(database_url: str, heard: tuple[Heard, Any]) -> None:
    found, listener = heard
    engine = make_engine(database_url)
    async with engine.connect() as connection:  # the database ends the listening session (as a restart would)
        await connection.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE query LIKE 'LISTEN%' AND datname = current_database()"
            )
        )
    async with asyncio.timeout(10):
        while found.reconnects == 0:
            await asyncio.sleep(0.05)
    assert listener.connected.is_set()
    async with make_sessionmaker(engine)() as session, session.begin():
        await session.execute(update(Sim).where(Sim.sid == SIM).values(status="active"))
    await found.expect(("sim", SIM))
    await engine.dispose()


def test_payloads_stay_under_the_limit_and_parse_back() -> None:
    keys = {("sim", f"HS{n:032x}") for n in range(199)} | {("fleet", FLEET)}
    sent = payloads(keys)
    assert all(len(p) <= 7000 for p in sent) and len(sent) > 1
    assert set().union(*(parse(p) for p in sent)) == keys
    many = {("sim", f"HS{n:032x}") for n in range(500)}
    assert payloads(many) == ["sim:*"]
    assert parse("sim:HS1 future:X fleet: rate_plan:WP1") == {("sim", "HS1"), ("rate_plan", "WP1")}
