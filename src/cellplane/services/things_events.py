"""The account's events URL (THINGS.md "Events callback"): one URL and method per account where platform events go
(a bulk action finished, an IMEI changed or was refused), delivered and signed like every callback through the
outbox (services/outbox.py, jobs/webhooks.py), each attempt recorded in WebhookDeliveries."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cellplane.domain.errors import NotFound
from cellplane.services.outbox import enqueue_webhook
from cellplane.store.models import Account, WebhookDelivery
from cellplane.store.models.base import utcnow

EVENT_PREFIX = "things."


async def get(session: AsyncSession, account_sid: str) -> Account:
    account = await session.get(Account, account_sid)
    if account is None:
        raise NotFound("Account", account_sid)
    return account


async def put(session: AsyncSession, account_sid: str, url: str | None, method: str | None) -> Account:
    """Set (or, with a null url, clear) the events URL; the URL was checked by the caller's wire layer."""
    account = await get(session, account_sid)
    account.events_callback_url = url or None
    account.events_callback_method = (method or "POST").upper() if url else None
    account.date_updated = utcnow()
    await session.flush()
    return account


async def announce(
    session: AsyncSession, account_sid: str, event: str, params: dict[str, str | None], resource_sid: str | None
) -> WebhookDelivery | None:
    """Queue `event` to the account's events URL in the caller's transaction (nothing when none is set)."""
    row = (
        await session.execute(
            select(Account.events_callback_url, Account.events_callback_method).where(Account.sid == account_sid)
        )
    ).one_or_none()
    if row is None or not row[0]:
        return None
    return enqueue_webhook(
        session,
        account_sid=account_sid,
        event=EVENT_PREFIX + event,
        url=row[0],
        method=row[1],
        params={
            "eventType": event,
            "accountId": account_sid,
            "at": utcnow().isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            **params,
        },
        resource_sid=resource_sid,
    )
