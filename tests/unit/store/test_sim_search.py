"""The SIM list's prefix searches (store/repositories/sim_search.py) on real SQLite and PostgreSQL: keyset pages in
the order of the key searched (ICCID or name), the same forwards and backwards, each page's cursor a sid; the other
filters still apply; a cursor that is no SIM of the account is refused by name."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from cellplane.domain.errors import InvalidParameter
from cellplane.domain.paging import Page, PageSpec
from cellplane.store.db import make_engine, make_sessionmaker
from cellplane.store.models import Account, Sim
from cellplane.store.repositories import sim_search
from tests.support.db import planted_database

ACCOUNT, OTHER = "AC" + "a" * 32, "AC" + "b" * 32
SIZE = 7


def _sid(n: int) -> str:
    # Sids not in ICCID order: the ICCIDs of one batch lie apart in sid order, as after a re-import.
    return "HS" + format((n * 7919) % 1000, "x").rjust(32, "0")


def _iccid(n: int) -> str:
    return f"89883070{n // 100}{n:011d}"


def _name(n: int) -> str:
    return f"dev-{n // 100}-{n}"


async def _plant(session: AsyncSession) -> None:
    session.add_all([Account(sid=sid, friendly_name="n", auth_token="t" * 32) for sid in (ACCOUNT, OTHER)])
    await session.flush()
    for n in range(300):
        session.add(
            Sim(
                sid=_sid(n),
                account_sid=OTHER if n % 10 == 9 else ACCOUNT,
                iccid=_iccid(n),
                imsi=f"00101{n:010d}",
                registration_code="X",
                unique_name=_name(n),
                status="active" if n % 3 else "inactive",
            )
        )


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from planted_database(request.param, tmp_path_factory.mktemp("sim-search"), _plant)


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
async def test_prefix_search_pages_in_the_order_of_the_key(
    database_url: str, search: sim_search.SimSearch, wanted: object
) -> None:
    # The pages follow the key searched (names as text: "dev-0-12" before "dev-0-3"), not the sid.
    key = _iccid if search.iccid_prefix else _name
    expected = [_sid(n) for n in sorted(range(300), key=key) if n % 10 != 9 and wanted(n)]  # type: ignore[operator]
    assert expected != sorted(expected)
    engine = make_engine(database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            forwards, backwards = await _all_pages(session, search)
    finally:
        await engine.dispose()
    assert forwards == expected
    assert backwards == expected


async def test_filters_alone_page_in_sid_order(database_url: str) -> None:
    expected = sorted(_sid(n) for n in range(300) if n % 10 != 9 and n % 3 == 0)
    engine = make_engine(database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            forwards, backwards = await _all_pages(session, sim_search.SimSearch(status="inactive"))
    finally:
        await engine.dispose()
    assert forwards == backwards == expected


async def test_a_cursor_of_another_account_is_refused_by_name(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            with pytest.raises(InvalidParameter) as refused:
                await sim_search.search_sims(
                    session, ACCOUNT, sim_search.SimSearch(iccid_prefix="8988"), PageSpec(size=SIZE, after=_sid(9))
                )
    finally:
        await engine.dispose()
    assert refused.value.parameter == "after"


async def test_a_prefix_nothing_starts_with_finds_nothing(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            page = await sim_search.search_sims(session, ACCOUNT, sim_search.SimSearch(iccid_prefix="8944"), PageSpec())
    finally:
        await engine.dispose()
    assert page.items == [] and not page.has_next and not page.has_previous
