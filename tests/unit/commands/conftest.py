"""Command jobs in-process over a real migrated database (SQLite, and PostgreSQL when it answers)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from cellplane.services.context import PlatformContext
from cellplane.store.db import make_engine, make_sessionmaker
from tests.support.db import migrated_database


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from migrated_database(request.param, tmp_path_factory.mktemp("commands"))


@pytest.fixture
async def ctx(database_url: str) -> AsyncIterator[PlatformContext]:
    engine = make_engine(database_url)
    yield PlatformContext(sessions=make_sessionmaker(engine), engine=engine)  # as the platform builds it
    await engine.dispose()
