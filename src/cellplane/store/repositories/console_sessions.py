"""Queries on console sessions: add, find a live one by its token's hash, end one, sweep the expired."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from cellplane.store.models import ConsoleSession


async def live(session: AsyncSession, token_hash: str, now: datetime) -> ConsoleSession | None:
    found = await session.get(ConsoleSession, token_hash)
    if found is None or found.expires_at <= now:
        return None
    return found


async def end(session: AsyncSession, token_hash: str) -> None:
    await session.execute(delete(ConsoleSession).where(ConsoleSession.token_hash == token_hash))


async def sweep(session: AsyncSession, now: datetime, limit: int = 500) -> int:
    """Delete up to `limit` expired sessions (a bounded statement, run on sign-in)."""
    stale = select(ConsoleSession.token_hash).where(ConsoleSession.expires_at <= now).limit(limit)
    result = await session.execute(delete(ConsoleSession).where(ConsoleSession.token_hash.in_(stale)))
    return int(getattr(result, "rowcount", 0) or 0)
