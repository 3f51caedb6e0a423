"""The SMS center: carries SMS Commands to devices (MT) and from them (MO), store-and-forward like a real SMSC.

MT (TS 23.040 §10.1): a command's job submits the SMS (`send_sms`, the SmsTransport of services/transport.py);
the center hands it to the serving network (`deliver`, radio.py) and answers at once: delivered (the device
was connected), sent (it is being paged, or sleeps in eDRX: a delivery report follows), or not reachable
(absent subscriber). A pending SMS is kept until the device has it or its validity period ends
(TS 23.040 §9.2.3.12, TP-Validity-Period); the outcome is the delivery report (the SMS-STATUS-REPORT a real
SMSC sends, §9.2.2.3), recorded on the command.

MO (TS 23.040 §10.2, TS 24.011 RP-DATA): `submit_from_device` is what a device's SMS reaches; the center
stores it as a `received` command (which posts it to the fleet's URL) and answers RP-ACK, or RP-ERROR with
the cause a network gives (TS 24.011 §8.2.5.4) when the SIM may not send SMS.

Either way an SMS is text or 8-bit data (a `ShortMessage`: str or bytes, TP-DCS 0x04 for bytes): a Wireless
Command in binary mode travels as 8-bit data, and 8-bit data from a Wireless SIM is a binary Command. Super SIM
SMS Commands are text, so 8-bit data from a Super SIM is refused (RP-Cause 69, facility not implemented).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable
from dataclasses import dataclass

from cellplane.domain import sms_commands as rules
from cellplane.domain.ids import Prefix, is_sid
from cellplane.protocols.sms import RpCause, ShortMessage, measure
from cellplane.services import sms_commands, things_sms, wireless_commands
from cellplane.services.context import PlatformContext
from cellplane.services.transport import SmsOutcome, SmsSubmission

from .radio import Deliver, MtResult

log = logging.getLogger("cellplane.smsc")

# What the platform's answer to an SMS from a SIM is on the wire (RP-ERROR causes, TS 24.011 Table 8.4).
REFUSALS = {
    sms_commands.Verdict.UNKNOWN_SIM: RpCause.UNKNOWN_SUBSCRIBER,
    sms_commands.Verdict.BARRED: RpCause.OPERATOR_DETERMINED_BARRING,
    sms_commands.Verdict.NOT_SUBSCRIBED: RpCause.REQUESTED_FACILITY_NOT_SUBSCRIBED,
    sms_commands.Verdict.TEXT_ONLY: RpCause.REQUESTED_FACILITY_NOT_IMPLEMENTED,
}
STORE_ATTEMPTS = 3


@dataclass(frozen=True)
class MoAnswer:
    """The network's answer to a device's SMS: RP-ACK (`accepted`), or RP-ERROR with its cause."""

    accepted: bool
    cause: RpCause | None = None
    command_sid: str | None = None

    @property
    def reason(self) -> str | None:
        return self.cause.text if self.cause is not None else None


class SmsCenter:
    """A component (start/stop). `deliver` is the radio side; None means no network to deliver through."""

    def __init__(
        self,
        ctx: PlatformContext,
        *,
        deliver: Deliver | None = None,
        validity: float = 86_400.0,
        report_patience: float = 10.0,
    ) -> None:
        self.ctx = ctx
        self.deliver = deliver
        self.validity = validity  # seconds a pending SMS is kept for a device that cannot be reached now
        self.report_patience = report_patience  # how long a report waits for its command's `sent` to commit
        self.counters = {"mt_submitted": 0, "mt_delivered": 0, "mt_failed": 0, "mo_accepted": 0, "mo_refused": 0}
        self._pending: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        """Pending SMS are dropped: their commands stay `sent`, which is what the platform knew of them."""
        for task in list(self._pending):
            task.cancel()
        for task in list(self._pending):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._pending.clear()

    @property
    def pending(self) -> int:
        return len(self._pending)

    # --- MT ---------------------------------------------------------------------------------------------

    async def send_sms(self, reference: str, imsi: str, message: ShortMessage) -> SmsSubmission:
        """Submit one SMS (text, or bytes as 8-bit data) to the SIM with this IMSI (SmsTransport); `reference`
        comes back in its report."""
        self.counters["mt_submitted"] += 1
        if self.deliver is None:
            return SmsSubmission(SmsOutcome.NO_SMSC)
        attempt = self.deliver(imsi, message)
        if attempt.result == MtResult.DELIVERED:
            self.counters["mt_delivered"] += 1
            return SmsSubmission(SmsOutcome.DELIVERED)
        if attempt.result == MtResult.PENDING and attempt.later is not None:
            task = asyncio.create_task(self._await_delivery(reference, attempt.later), name=f"sms-{reference}")
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)
            return SmsSubmission(SmsOutcome.SENT)
        self.counters["mt_failed"] += 1
        return SmsSubmission(SmsOutcome.NOT_REACHABLE)

    async def _await_delivery(self, reference: str, later: Awaitable[bool]) -> None:
        delivered, error = False, rules.EXPIRED_MESSAGE
        try:
            async with asyncio.timeout(self.validity):
                delivered = bool(await later)
            if not delivered:
                error = rules.NOT_REACHABLE_MESSAGE
        except TimeoutError:
            pass
        self.counters["mt_delivered" if delivered else "mt_failed"] += 1
        await self._report(reference, delivered, None if delivered else error)

    async def _report(self, reference: str, delivered: bool, error: str | None) -> None:
        """Record the delivery report; while the job that sent the command has not committed `sent` yet the
        command still reads `queued`, so wait for it (briefly: that job's transaction is short)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.report_patience
        pause = 0.01
        while True:
            try:
                # The reference is the command's sid: a Super SIM SMS Command, or a Wireless Command sent as SMS.
                wireless = is_sid(reference, Prefix.WIRELESS_COMMAND)
                record = wireless_commands.record_report if wireless else sms_commands.record_report
                async with self.ctx.sessions() as session, session.begin():
                    outcome = await record(session, self.ctx, reference, delivered, error)
            except Exception:
                log.exception("recording the delivery report of %s failed", reference)
                outcome = sms_commands.Report.NOT_YET
            if outcome == sms_commands.Report.APPLIED:
                self.ctx.wake_workers()  # its callback is a job
                return
            if outcome == sms_commands.Report.SETTLED or loop.time() >= deadline:
                if outcome != sms_commands.Report.SETTLED:
                    log.warning("delivery report of %s dropped: its command never left `queued`", reference)
                return
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.5)

    # --- MO ---------------------------------------------------------------------------------------------

    async def submit_from_device(self, imsi: str, message: ShortMessage) -> MoAnswer:
        """An SMS (text, or bytes as 8-bit data) from the device with this IMSI: stored and posted to its fleet or
        its Sim's commands_callback_url, or refused with an RP-Cause."""
        if not message or not measure(message).fits:
            self.counters["mo_refused"] += 1
            return MoAnswer(False, RpCause.INVALID_MANDATORY_INFORMATION)
        for attempt in range(STORE_ATTEMPTS):
            try:
                async with self.ctx.sessions() as session, session.begin():
                    # A Wireless SIM's SMS is a Wireless Command (to its commands_callback_url); None: not one.
                    now = self.ctx.clock()
                    stored = await wireless_commands.record_received_sms(session, self.ctx, imsi, message, now)
                    # A Thing's SMS (THINGS.md): refused when its services.sms is false.
                    stored = stored or await things_sms.record_received(session, self.ctx, imsi, message, now)
                    verdict, command = stored or await sms_commands.record_received(
                        session, self.ctx, imsi, message, now
                    )
                break
            except Exception:
                log.exception("storing an SMS from %s failed (attempt %d)", imsi, attempt + 1)
                await asyncio.sleep(0.05 * 2**attempt)
        else:
            self.counters["mo_refused"] += 1
            return MoAnswer(False, RpCause.TEMPORARY_FAILURE)  # the device may try again
        if command is None:
            self.counters["mo_refused"] += 1
            return MoAnswer(False, REFUSALS.get(verdict, RpCause.NETWORK_OUT_OF_ORDER))
        self.counters["mo_accepted"] += 1
        self.ctx.wake_workers()  # the fleet's webhook is a job
        return MoAnswer(True, command_sid=command.sid)
