"""The SIM list's prefix searches (store/repositories/sim_search.py) on real SQLite and PostgreSQL: a few matches
sorted from their index give the same keyset pages, forwards and backwards, as the walk in sid order that many
matches take; the other filters still apply."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from cellplane.domain.paging import Page, PageSpec
from cellplane.store.db import make_engine, make_sessionmaker
from cellplane.store.models import Account, Sim
from cellplane.store.repositories import sim_search
from tests.support.db import migrated_database

ACCOUNT, OTHER = "AC" + "a" * 32, "AC" + "b" * 32
SIZE = 7


def _sid(n: int) -> str:
    # Sids not in ICCID order: the ICCIDs of one batch lie apart in sid order, as after a re-import.
    return "HS" + format((n * 7919) % 1000, "x").rjust(32, "0")


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = next(iterator := migrated_database(request.param, tmp_path_factory.mktemp("sim-search")))

    async def plant() -> None:
        engine = make_engine(url)
        async with make_sessionmaker(engine)() as session, session.begin():
            session.add_all([Account(sid=sid, friendly_name="n", auth_token="t" * 32) for sid in (ACCOUNT, OTHER)])
            await session.flush()
            for n in range(300):
                session.add(
                    Sim(
                        sid=_sid(n),
                        account_sid=OTHER if n % 10 == 9 else ACCOUNT,
                        iccid=f"89883070{n // 100}{n:011d}",
                        imsi=f"00101{n:010d}",
                        registration_code="X",
                        unique_name=f"dev-{n // 100}-{n}",
                        status="active" if n % 3 else "inactive",
                    )
                )
        await engine.dispose()

    asyncio.run(plant())
    yield url
    next(iterator, None)


async def _all_pages(session: AsyncSession, search: sim_search.SimSearch) -> tuple[list[str], list[str]]:
    """Every page forwards by `after`, then backwards from the last by `before`: the sids in the order shown."""
    forwards: list[str] = []
    page: Page[Sim] = await sim_search.search_sims(session, ACCOUNT, search, PageSpec(size=SIZE))
    assert not page.has_previous
    while True:
        forwards += [sim.sid for sim in page.items]
        if not page.has_next:
            break
        page = await sim_search.search_sims(session, ACCOUNT, search, PageSpec(size=SIZE, after=page.last_key))
        assert page.has_previous
    backwards: list[str] = []
    page = await sim_search.search_sims(session, ACCOUNT, search, PageSpec(size=SIZE, before=forwards[-1]))
    backwards = [forwards[-1]]
    while True:
        backwards = [sim.sid for sim in page.items] + backwards
        if not page.has_previous:
            break
        page = await sim_search.search_sims(session, ACCOUNT, search, PageSpec(size=SIZE, before=page.first_key))
    return forwards, backwards


@pytest.mark.parametrize(
    ("search", "wanted"),
    [
        (sim_search.SimSearch(iccid_prefix="898830701"), lambda n: n // 100 == 1),
        (sim_search.SimSearch(iccid_prefix="8988307020000000025"), lambda n: 250 <= n < 260),
        (sim_search.SimSearch(name_prefix="dev-2-"), lambda n: n // 100 == 2),
        (sim_search.SimSearch(name_prefix="dev-0-", status="inactive"), lambda n: n < 100 and n % 3 == 0),
    ],
    ids=["iccid-100", "iccid-10", "name-100", "name-status"],
)
# Each way a page is found: matches sorted whole; the walk in sid order fills the page; the walk (too short to fill
# a page) gives way to the sort.
@pytest.mark.parametrize(("cap", "walk"), [(1_000, 1_000), (5, 1_000), (5, 20)], ids=["sorted", "walked", "walk-short"])
async def test_prefix_search_pages_are_the_same_sorted_or_walked(
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    search: sim_search.SimSearch,
    wanted: object,
    cap: int,
    walk: int,
) -> None:
    monkeypatch.setattr(sim_search, "RANGE_SORT_CAP", cap)
    monkeypatch.setattr(sim_search, "RANGE_WALK", walk)
    expected = sorted(_sid(n) for n in range(300) if n % 10 != 9 and wanted(n))  # type: ignore[operator]
    engine = make_engine(database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            forwards, backwards = await _all_pages(session, search)
    finally:
        await engine.dispose()
    assert forwards == expected
    assert backwards == expected


async def test_a_prefix_nothing_starts_with_finds_nothing(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            page = await sim_search.search_sims(session, ACCOUNT, sim_search.SimSearch(iccid_prefix="8944"), PageSpec())
    finally:
        await engine.dispose()
    assert page.items == [] and not page.has_next and not page.has_previous
