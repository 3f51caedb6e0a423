"""Job handler: hand one queued SMS Command to the SMS center the runtime gives it, record the answer.

As with IP Commands (jobs/ip_commands.py), the command and its job were committed together by the request,
so an SMS Command acknowledged with 201 is sent even if the process dies first. Submitting and recording
happen in one short transaction: the center answers at once, and reports a later delivery on its own.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from cellplane.services import sms_commands
from cellplane.services.context import PlatformContext
from cellplane.services.transport import SmsTransport

# A product's "hand this queued command to the SMS center and record the answer" (services/sms_commands.deliver;
# Wireless Commands over SMS give services/wireless_commands.deliver_sms).
Deliver = Callable[[AsyncSession, PlatformContext, SmsTransport | None, str], Awaitable[object | None]]


class SmsCommandDelivery:
    """The `sms_command` job handler; without a transport (no SMS center here) commands fail with 89100."""

    def __init__(self, transport: SmsTransport | None, deliver: Deliver = sms_commands.deliver) -> None:
        self.transport = transport
        self.deliver = deliver

    async def __call__(self, ctx: PlatformContext, payload: dict[str, Any]) -> None:
        async with ctx.sessions() as session, session.begin():
            command = await self.deliver(session, ctx, self.transport, str(payload["sid"]))
        if command is not None:
            ctx.wake_workers()  # its callbacks are jobs, and so is a settings update when it made the SIM active
