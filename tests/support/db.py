"""The test server's own database, opened directly: read-side tests plant the rows the network side writes."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from cellplane.store.migrate import upgrade
from cellplane.store.models import Base
from tests.support.server import (
    Server,
    create_postgres_database,
    drop_postgres_database,
    postgres_available,
)

T = TypeVar("T")


def database_url(server: Server) -> str:
    """The URL the server runs on: CELLPLANE_DATABASE_URL, else the SQLite file in its data dir."""
    url = server.env.get("CELLPLANE_DATABASE_URL")
    if url:
        return url
    return f"sqlite+aiosqlite:///{server.data_dir.resolve() / 'cellplane.db'}"


def run(server: Server, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run `work` in one committed transaction on the server's database (from a synchronous test)."""

    async def _run() -> T:
        engine = create_async_engine(database_url(server))
        try:
            sessions = async_sessionmaker(engine, expire_on_commit=False)
            async with sessions() as session, session.begin():
                return await work(session)
        finally:
            await engine.dispose()

    return asyncio.run(_run())


def insert(server: Server, *rows: Base) -> None:
    """Add model instances (usage buckets, data sessions, connection events...) and commit them."""

    async def _add(session: AsyncSession) -> Any:
        session.add_all(rows)
        await session.flush()

    run(server, _add)


def migrated_database(backend: str, directory: Path) -> Iterator[str]:
    """A fresh database migrated to head, for in-process tests; yields its URL and drops it afterwards.

    `backend` is "sqlite" (a file in `directory`) or "postgres" (skipped with the reason when none answers)."""
    if backend == "postgres":
        reason = postgres_available()
        if reason:
            pytest.skip(reason)
        url = create_postgres_database()
    else:
        url = f"sqlite+aiosqlite:///{directory / 'cellplane.db'}"
    upgrade(url)
    yield url
    if backend == "postgres":
        drop_postgres_database(url)


def planted_database(backend: str, directory: Path, plant: Callable[[AsyncSession], Awaitable[None]]) -> Iterator[str]:
    """migrated_database with rows added by `plant` in one committed transaction before anything reads it (for a
    module's read-only tests over one data set)."""
    databases = migrated_database(backend, directory)
    url = next(databases)

    async def _plant() -> None:
        engine = create_async_engine(url)
        try:
            async with async_sessionmaker(engine)() as session, session.begin():
                await plant(session)
        finally:
            await engine.dispose()

    asyncio.run(_plant())
    yield url
    next(databases, None)
