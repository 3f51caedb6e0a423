"""Job handler: hand one queued SMS Command to the SMS center the runtime gives it, record the answer.

As with IP Commands (jobs/ip_commands.py), the command and its job were committed together by the request,
so an SMS Command acknowledged with 201 is sent even if the process dies first. Submitting and recording
happen in one short transaction: the center answers at once, and reports a later delivery on its own.
"""

from __future__ import annotations

from typing import Any

from cellplane.services import sms_commands
from cellplane.services.context import PlatformContext
from cellplane.services.transport import SmsTransport


class SmsCommandDelivery:
    """The `sms_command` job handler; without a transport (no SMS center here) commands fail with 89100."""

    def __init__(self, transport: SmsTransport | None) -> None:
        self.transport = transport

    async def __call__(self, ctx: PlatformContext, payload: dict[str, Any]) -> None:
        async with ctx.sessions() as session, session.begin():
            command = await sms_commands.deliver(session, ctx, self.transport, str(payload["sid"]))
        if command is not None:
            ctx.wake_workers()  # its callbacks are jobs, and so is a settings update when it made the SIM active
