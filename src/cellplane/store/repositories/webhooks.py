"""Queries on webhook deliveries and their attempts, scoped by account, newest first."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from cellplane.domain.paging import Page, PageSpec
from cellplane.store.models import WebhookAttempt, WebhookDelivery
from cellplane.store.repositories.paging import keyset_page


@dataclass(frozen=True)
class DeliveryFilter:
    """Narrowing of an account's deliveries; None means "any"."""

    status: str | None = None
    event: str | None = None
    resource_sid: str | None = None


def list_query(account_sid: str, where: DeliveryFilter) -> Select[WebhookDelivery]:
    stmt = select(WebhookDelivery).where(WebhookDelivery.account_sid == account_sid)
    if where.status is not None:
        stmt = stmt.where(WebhookDelivery.status == where.status)
    if where.event is not None:
        stmt = stmt.where(WebhookDelivery.event == where.event)
    if where.resource_sid is not None:
        stmt = stmt.where(WebhookDelivery.resource_sid == where.resource_sid)
    return stmt


async def page(session: AsyncSession, stmt: Select[WebhookDelivery], spec: PageSpec) -> Page[WebhookDelivery]:
    # Sids are time-ordered, so descending sid order is newest first.
    return await keyset_page(session, stmt, WebhookDelivery.sid, spec, descending=True)


async def find_visible(session: AsyncSession, sid: str, visible: Iterable[str]) -> WebhookDelivery | None:
    stmt = select(WebhookDelivery).where(WebhookDelivery.sid == sid, WebhookDelivery.account_sid.in_(list(visible)))
    return (await session.execute(stmt)).scalar_one_or_none()


async def attempts(session: AsyncSession, delivery_sid: str) -> list[WebhookAttempt]:
    stmt = select(WebhookAttempt).where(WebhookAttempt.delivery_sid == delivery_sid).order_by(WebhookAttempt.attempt)
    return list((await session.execute(stmt)).scalars())
