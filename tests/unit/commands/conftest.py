"""Command jobs in-process over a real migrated database (SQLite, and PostgreSQL when it answers)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from cellplane.services.context import PlatformContext
from cellplane.store.db import make_engine, make_sessionmaker
from cellplane.store.migrate import upgrade
from tests.support.server import create_postgres_database, drop_postgres_database, postgres_available


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if request.param == "postgres":
        reason = postgres_available()
        if reason:
            pytest.skip(reason)
        url = create_postgres_database()
    else:
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('commands') / 'cellplane.db'}"
    upgrade(url)
    yield url
    if request.param == "postgres":
        drop_postgres_database(url)


@pytest.fixture
async def ctx(database_url: str) -> AsyncIterator[PlatformContext]:
    engine = make_engine(database_url)
    yield PlatformContext(sessions=make_sessionmaker(engine))
    await engine.dispose()
