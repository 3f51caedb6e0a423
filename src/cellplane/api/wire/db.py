"""Sessions for request handlers: a request commits its own transaction (services only flush)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from cellplane.domain.errors import NotFound
from cellplane.services.context import PlatformContext


def context(request: Request) -> PlatformContext:
    return request.app.state.ctx  # type: ignore[no-any-return]


def addressable(request: Request) -> dict[str, Any]:
    """The request's path parameters, once it is checked that they can name something.

    A path key with a NUL names nothing: no sid or unique name can hold one (forms refuse it), and
    PostgreSQL rejects NUL in text outright, which would surface as a 500. Answer 404 before any query."""
    if any("\x00" in str(value) for value in request.path_params.values()):
        raise NotFound("path", request.url.path)
    return request.path_params


@asynccontextmanager
async def transaction(request: Request) -> AsyncIterator[AsyncSession]:
    """One write transaction; committed when the block ends, rolled back whole on any error."""
    addressable(request)
    ctx = context(request)
    async with ctx.sessions() as session, session.begin():
        yield session
    ctx.wake_workers()


@asynccontextmanager
async def reading(request: Request) -> AsyncIterator[AsyncSession]:
    addressable(request)
    async with context(request).sessions() as session:
        yield session


@asynccontextmanager
async def connection(request: Request) -> AsyncIterator[AsyncConnection]:
    """A plain connection for read-only hot paths (no ORM session to set up, track and roll back)."""
    addressable(request)
    engine = context(request).engine
    if engine is None:
        async with reading(request) as session:
            yield await session.connection()
        return
    async with engine.connect() as conn:
        yield conn
