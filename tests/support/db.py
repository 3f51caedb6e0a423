"""The test server's own database, opened directly: read-side tests plant the rows the network side writes."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from cellplane.store.models import Base
from tests.support.server import Server

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
