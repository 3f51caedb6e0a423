"""Sessions for request handlers: a request commits its own transaction (services only flush)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from cellplane.services.context import PlatformContext


def context(request: Request) -> PlatformContext:
    return request.app.state.ctx  # type: ignore[no-any-return]


@asynccontextmanager
async def transaction(request: Request) -> AsyncIterator[AsyncSession]:
    """One write transaction; committed when the block ends, rolled back whole on any error."""
    ctx = context(request)
    async with ctx.sessions() as session, session.begin():
        yield session
    ctx.wake_workers()


@asynccontextmanager
async def reading(request: Request) -> AsyncIterator[AsyncSession]:
    async with context(request).sessions() as session:
        yield session
