"""Queries on accounts and API keys."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cellplane.store.models import Account, ApiKey


async def get_account(session: AsyncSession, sid: str) -> Account | None:
    return await session.get(Account, sid)


async def get_api_key(session: AsyncSession, sid: str) -> ApiKey | None:
    return await session.get(ApiKey, sid)


async def child_sids(session: AsyncSession, parent_sid: str) -> list[str]:
    result = await session.execute(select(Account.sid).where(Account.parent_sid == parent_sid))
    return list(result.scalars())


async def auth_token_of(session: AsyncSession, account_sid: str) -> str | None:
    result = await session.execute(select(Account.auth_token).where(Account.sid == account_sid))
    return result.scalar_one_or_none()
