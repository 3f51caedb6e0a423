"""Job handler: send one queued command over IP through the transport the runtime gives it, record the outcome.

Wireless Commands over IP (services/wireless_commands.deliver_ip) go this way: the command and its job were
committed together by the request, so a command acknowledged with 201 is sent even if the process dies first:
the job is a row, claimed again after a restart (or once a dead worker's lease lapses). Sending and recording
happen in one transaction, kept short: the transport only hands a datagram to a tunnel. (Super SIM IP Commands
need no job row: services/ip_command_outbox.py sends them straight from their queued rows.)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from cellplane.services.context import PlatformContext
from cellplane.services.transport import CommandTransport


class Sent(Protocol):
    callback_url: str | None


# A product's "send this queued command through the transport and record it" (services/wireless_commands.deliver_ip).
Deliver = Callable[[AsyncSession, PlatformContext, CommandTransport | None, str], Awaitable[Sent | None]]


class IpCommandDelivery:
    """The IP delivery job handler; without a transport (no gateway here) commands fail with 83400."""

    def __init__(self, transport: CommandTransport | None, deliver: Deliver) -> None:
        self.transport = transport
        self.deliver = deliver

    async def __call__(self, ctx: PlatformContext, payload: dict[str, Any]) -> None:
        async with ctx.sessions() as session, session.begin():
            command = await self.deliver(session, ctx, self.transport, str(payload["sid"]))
        if command is not None and command.callback_url:
            ctx.wake_workers()  # its callback is a job too
