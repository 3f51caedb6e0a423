"""What IP, SMS and Wireless Commands share about their callbacks: the failure parameters, queuing the callback
for a command's status, and recording a callback that was never acknowledged (83402) on its command."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from cellplane.domain import ip_commands as ip_rules
from cellplane.services.outbox import enqueue_webhook
from cellplane.store.models import WebhookDelivery

FAILED = "failed"  # the same word in every command product's status list


class Settled(Protocol):
    sid: str
    account_sid: str
    status: str
    error_code: int | None
    error_message: str | None


def failure_params(command: Settled) -> dict[str, str | None]:
    """ErrorCode and ErrorMessage, present only on a failed command (the seed's callback rule)."""
    failed = command.status == FAILED
    return {
        "ErrorCode": str(command.error_code) if failed and command.error_code is not None else None,
        "ErrorMessage": command.error_message if failed else None,
    }


def enqueue_status_callback(
    session: AsyncSession,
    command: Settled,
    event_prefix: str,
    url: str,
    method: str | None,
    params: dict[str, str | None],
) -> WebhookDelivery:
    """Queue the callback for the command's current status, signed with its account's token."""
    return enqueue_webhook(
        session,
        account_sid=command.account_sid,
        event=event_prefix + command.status,
        url=url,
        method=method,
        params=params,
        resource_sid=command.sid,
    )


async def record_final_failure(
    session: AsyncSession,
    delivery: WebhookDelivery,
    event_prefix: str,
    get: Callable[[AsyncSession, str], Awaitable[Any]],
) -> None:
    """WebhookSender's final-failure hook for one product's commands (`get` loads one by sid): a callback never
    acknowledged is recorded on its command as 83402, unless an earlier error (a failed delivery) says more."""
    if not delivery.event.startswith(event_prefix) or delivery.resource_sid is None:
        return
    command = await get(session, delivery.resource_sid)
    if command is None or command.error_code is not None:
        return
    answer = f"HTTP {delivery.last_status_code}" if delivery.last_status_code else (delivery.last_error or "no answer")
    command.error_code = ip_rules.CALLBACK_ERROR
    command.error_message = f"The callback to {delivery.url} failed after {delivery.attempts} attempts: {answer}"[:256]
    await session.flush()
