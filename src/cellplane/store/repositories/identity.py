"""Queries on API clients, access tokens, users and audit events; every list scoped by account."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from cellplane.domain.paging import Page, PageSpec
from cellplane.store.models import AccessToken, ApiClient, AuditEvent, User
from cellplane.store.repositories.paging import keyset_page


async def find_client(session: AsyncSession, sid: str, visible: Iterable[str]) -> ApiClient | None:
    stmt = select(ApiClient).where(ApiClient.sid == sid, ApiClient.account_sid.in_(list(visible)))
    return (await session.execute(stmt)).scalar_one_or_none()


async def get_client(session: AsyncSession, sid: str) -> ApiClient | None:
    return await session.get(ApiClient, sid)


async def page_clients(session: AsyncSession, account_sid: str, spec: PageSpec) -> Page[ApiClient]:
    stmt = select(ApiClient).where(ApiClient.account_sid == account_sid)
    return await keyset_page(session, stmt, ApiClient.sid, spec)


async def delete_client(session: AsyncSession, sid: str) -> None:
    # Tokens first: SQLite enforces ON DELETE CASCADE only with foreign keys switched on.
    await session.execute(delete(AccessToken).where(AccessToken.client_sid == sid))
    await session.execute(delete(ApiClient).where(ApiClient.sid == sid))


async def token_with_client(session: AsyncSession, token_hash: str) -> tuple[AccessToken, ApiClient] | None:
    stmt = (
        select(AccessToken, ApiClient)
        .join(ApiClient, ApiClient.sid == AccessToken.client_sid)
        .where(AccessToken.token_hash == token_hash)
    )
    row = (await session.execute(stmt)).first()
    return None if row is None else (row[0], row[1])


async def touch_client(session: AsyncSession, sid: str, when: datetime) -> None:
    await session.execute(update(ApiClient).where(ApiClient.sid == sid).values(date_last_used=when))


async def delete_expired_tokens(session: AsyncSession, now: datetime, limit: int) -> int:
    stmt = select(AccessToken.token_hash).where(AccessToken.expires_at < now).limit(limit)
    hashes = list((await session.execute(stmt)).scalars())
    if hashes:
        await session.execute(delete(AccessToken).where(AccessToken.token_hash.in_(hashes)))
    return len(hashes)


async def find_user(session: AsyncSession, sid: str, visible: Iterable[str]) -> User | None:
    stmt = select(User).where(User.sid == sid, User.account_sid.in_(list(visible)))
    return (await session.execute(stmt)).scalar_one_or_none()


async def user_by_email(session: AsyncSession, email: str) -> User | None:
    return (await session.execute(select(User).where(User.email == email))).scalar_one_or_none()


async def page_users(session: AsyncSession, account_sid: str, spec: PageSpec) -> Page[User]:
    return await keyset_page(session, select(User).where(User.account_sid == account_sid), User.sid, spec)


@dataclass(frozen=True)
class AuditFilter:
    actor_sid: str | None = None
    resource: str | None = None
    start: datetime | None = None
    end: datetime | None = None


def audit_query(account_sid: str, where: AuditFilter) -> Select[Any]:
    stmt = select(AuditEvent).where(AuditEvent.account_sid == account_sid)
    if where.actor_sid is not None:
        stmt = stmt.where(AuditEvent.actor_sid == where.actor_sid)
    if where.resource is not None:
        stmt = stmt.where(AuditEvent.resource == where.resource)
    if where.start is not None:
        stmt = stmt.where(AuditEvent.timestamp >= where.start)
    if where.end is not None:
        stmt = stmt.where(AuditEvent.timestamp < where.end)
    return stmt


async def page_audit(session: AsyncSession, stmt: Select[Any], spec: PageSpec) -> Page[AuditEvent]:
    # Sids are time-ordered: descending sid is newest first.
    return await keyset_page(session, stmt, AuditEvent.sid, spec, descending=True)


async def find_audit_event(session: AsyncSession, sid: str, visible: Iterable[str]) -> AuditEvent | None:
    stmt = select(AuditEvent).where(AuditEvent.sid == sid, AuditEvent.account_sid.in_(list(visible)))
    return (await session.execute(stmt)).scalar_one_or_none()


async def insert_audit_events(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        await session.execute(insert(AuditEvent), list(rows))


async def delete_audit_events(session: AsyncSession, sid_floor: str, cutoff: datetime, limit: int) -> int:
    stmt = select(AuditEvent.sid).where(AuditEvent.sid < sid_floor, AuditEvent.timestamp < cutoff).limit(limit)
    sids = list((await session.execute(stmt)).scalars())
    if sids:
        await session.execute(delete(AuditEvent).where(AuditEvent.sid.in_(sids)))
    return len(sids)
