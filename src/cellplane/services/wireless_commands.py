"""Programmable Wireless Commands use cases, on the Super SIM commands' machinery: send one to a SIM over SMS or IP
(queued, then the same delivery jobs and transports as SMS and IP Commands), list, fetch, delete, record what the
SMS center reports and what SIMs send, and call back.

The Command resource docs: a command is accepted as `queued`; it becomes `sent` once handed to the network and,
over SMS with a delivery receipt requested, `delivered` when the device has it; `failed` when it cannot be
sent. `CallbackUrl` is called "when the Command has finished sending, whether the command was delivered or it
failed": once, at the final status. Commands from the SIM (an SMS to the Commands number, a datagram to
100.64.0.1) are `received` and posted to the Sim's `commands_callback_url`. Over SMS a binary Command travels as
8-bit data (140 octets at most), and 8-bit data from the SIM is a `received` binary Command (base64), as a
datagram is. Rules: domain/wireless_commands.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from cellplane.domain import ip_commands as ip_rules
from cellplane.domain import lifecycle
from cellplane.domain import sms_commands as sms_rules
from cellplane.domain import wireless_commands as rules
from cellplane.domain.caller import Caller
from cellplane.domain.errors import InvalidParameter, MissingParameter, NotFound, Unauthorized
from cellplane.domain.ids import Prefix, is_sid, new_sid
from cellplane.domain.paging import Page, PageSpec
from cellplane.protocols.sms import ShortMessage, measure
from cellplane.services.command_callbacks import enqueue_status_callback, failure_params, record_final_failure
from cellplane.services.context import PlatformContext
from cellplane.services.metrics import command_outcome
from cellplane.services.outbox import enqueue
from cellplane.services.sms_commands import Report, Verdict
from cellplane.services.sms_usage import count_sms
from cellplane.services.transport import (
    CommandTransport,
    DeliveryOutcome,
    IpDelivery,
    SmsOutcome,
    SmsSubmission,
    SmsTransport,
)
from cellplane.store.models import Sim, WebhookDelivery, WirelessCommand
from cellplane.store.repositories import rate_plans as plan_repo
from cellplane.store.repositories import sims as sims_repo
from cellplane.store.repositories import wireless_commands as repo

# One job kind per transport, handled by the SMS and IP Commands' own delivery jobs (jobs/sms_commands.py,
# jobs/ip_commands.py) given this module's deliver_sms / deliver_ip.
SMS_JOB = "wireless_command_sms"
IP_JOB = "wireless_command_ip"
EVENT_PREFIX = "wireless_command."  # webhook events: wireless_command.sent, .delivered, .failed, .received
PRODUCT = "wireless"


@dataclass(frozen=True)
class NewCommand:
    """The parameters of POST /Commands as given; None = not given (the defaults are the rules')."""

    command: str
    sim: str | None = None
    command_mode: str | None = None
    transport: str | None = None
    include_sid: str | None = None
    delivery_receipt_requested: bool | None = None
    callback_url: str | None = None
    callback_method: str | None = None


@dataclass(frozen=True)
class CommandQuery:
    """The filters of GET /Commands; None means "any"."""

    sim: str | None = None
    status: str | None = None
    direction: str | None = None
    transport: str | None = None


async def _check_sim(session: AsyncSession, sim: Sim, transport: str) -> None:
    """Hosted 33104 for a SIM that cannot take Commands yet, 33201 for Commands its rate plan does not allow."""
    if not lifecycle.takes_commands(sim.status, sim.pending_status):
        status = lifecycle.wireless_name(sim.status)
        raise InvalidParameter(
            "Sim", f"Sim {sim.sid} is {status}: Commands go only to a Sim that is ready or active", code=rules.NOT_READY
        )
    plan = await plan_repo.get(session, sim.rate_plan_sid) if sim.rate_plan_sid else None
    if plan is None:
        raise InvalidParameter("Sim", f"Sim {sim.sid} has no RatePlan", code=rules.NOT_READY)
    if transport == rules.SMS and not plan.messaging_enabled:
        raise Unauthorized(f"The RatePlan of Sim {sim.sid} has messaging disabled", code=rules.NOT_PERMITTED)
    if transport == rules.IP and not plan.data_enabled:
        raise Unauthorized(
            f"The RatePlan of Sim {sim.sid} has data disabled, and IP Commands travel in a data session",
            code=rules.NOT_PERMITTED,
        )


def _check_size(command: str, mode: str, transport: str, include_sid: str, sid: str) -> None:
    if transport == rules.IP:
        rules.check_datagram(rules.body(command, mode, include_sid, sid))
        return
    # One SMS: text (GSM 7-bit or UCS-2), or in binary mode 8-bit data (protocols/sms.py measures either).
    size = measure(rules.sms_message(command, mode, include_sid, sid))
    if not size.fits:
        with_sid = "" if include_sid == "none" else ", its sid and a space included"
        raise InvalidParameter(
            "Command",
            f"Command is {size.length} {size.unit}{with_sid}; one SMS carries at most {size.limit}",
            code=rules.INVALID,
        )


async def create(session: AsyncSession, ctx: PlatformContext, caller: Caller, request: NewCommand) -> WirelessCommand:
    """Accept a command to a SIM of the caller's own account; it is written with the job that sends it."""
    mode = rules.check_choice("CommandMode", request.command_mode, rules.MODES) or rules.TEXT
    transport = rules.check_choice("Transport", request.transport, rules.TRANSPORTS) or rules.default_transport(mode)
    include_sid = rules.check_choice("IncludeSid", request.include_sid, rules.INCLUDE_SID) or "none"
    rules.decode(request.command, mode)
    if not request.sim:
        raise MissingParameter("Sim")
    sim = await sims_repo.find_visible(session, request.sim, [caller.account_sid], PRODUCT)
    if sim is None:
        raise NotFound("Sim", request.sim)
    await _check_sim(session, sim, transport)
    sid = new_sid(Prefix.WIRELESS_COMMAND)
    _check_size(request.command, mode, transport, include_sid, sid)
    now = ctx.clock()
    command = WirelessCommand(
        sid=sid,
        account_sid=caller.account_sid,
        sim_sid=sim.sid,
        command=request.command,
        command_mode=mode,
        transport=transport,
        delivery_receipt_requested=request.delivery_receipt_requested is not False,  # "The default value is true"
        include_sid=include_sid,
        status=rules.QUEUED,
        direction=rules.TO_SIM,
        callback_url=request.callback_url or None,
        callback_method=(request.callback_method or "POST") if request.callback_url else None,
        date_created=now,
        date_updated=now,
    )
    repo.add(session, command)
    enqueue(session, SMS_JOB if transport == rules.SMS else IP_JOB, {"sid": sid}, delay=ctx.command_delay)
    await session.flush()
    return command


async def list_commands(
    session: AsyncSession, caller: Caller, query: CommandQuery, spec: PageSpec
) -> Page[WirelessCommand]:
    sim_sid: str | None = None
    if query.sim is not None:
        if is_sid(query.sim, Prefix.WIRELESS_SIM):
            sim_sid = query.sim  # also finds commands of a SIM that has since left the account
        else:
            sim = await sims_repo.find_visible(session, query.sim, [caller.account_sid], PRODUCT)
            if sim is None:
                return Page(items=[], has_next=False, has_previous=False)
            sim_sid = sim.sid
    where = repo.CommandFilter(
        sim_sid=sim_sid, status=query.status, direction=query.direction, transport=query.transport
    )
    return await repo.page(session, repo.list_query(caller.account_sid, where), spec)


async def fetch(session: AsyncSession, caller: Caller, sid: str) -> WirelessCommand:
    command = await repo.find_visible(session, sid, caller.visible) if is_sid(sid, Prefix.WIRELESS_COMMAND) else None
    if command is None:
        raise NotFound("Command", sid)
    return command


async def delete(session: AsyncSession, caller: Caller, sid: str) -> None:
    """DELETE /Commands/{Sid}; a command still queued is not sent (its job finds nothing to deliver)."""
    command = await fetch(session, caller, sid)
    await repo.remove(session, command.sid)


# --- to the SIM ------------------------------------------------------------------------------------------


async def deliver_sms(
    session: AsyncSession, ctx: PlatformContext, transport: SmsTransport | None, sid: str
) -> WirelessCommand | None:
    """The SMS delivery job's work for a Wireless Command (as services/sms_commands.deliver does it)."""
    found = await repo.with_sim(session, sid)
    if found is None:
        return None  # deleted or purged before it was dequeued
    command, sim = found
    if command.status != rules.QUEUED:
        return command
    message = rules.sms_message(command.command, command.command_mode, command.include_sid, command.sid)
    if transport is None:
        submission = SmsSubmission(SmsOutcome.NO_SMSC)
    else:
        submission = await transport.send_sms(sid, sim.imsi, message)
    now = ctx.clock()
    if submission.outcome in (SmsOutcome.SENT, SmsOutcome.DELIVERED):
        await count_sms(session, ctx, sim, to_sim=True, now=now)
        delivered = submission.outcome == SmsOutcome.DELIVERED and command.delivery_receipt_requested
        # Without a receipt to wait for (not requested, or not yet in), `sent` is as far as sending goes for now.
        final = delivered or not command.delivery_receipt_requested
        _advance(session, command, sim, rules.DELIVERED if delivered else rules.SENT, now, final=final)
    else:
        no_smsc = submission.outcome == SmsOutcome.NO_SMSC
        error = sms_rules.NO_SMSC_MESSAGE if no_smsc else sms_rules.NOT_REACHABLE_MESSAGE
        _fail(session, command, sim, sms_rules.DELIVERY_ERROR, error, now)
    await session.flush()
    return command


async def record_report(
    session: AsyncSession, ctx: PlatformContext, sid: str, delivered: bool, error: str | None = None
) -> Report:
    """The SMS center's delivery report for a `sent` command; kept only when a receipt was requested."""
    found = await repo.with_sim(session, sid)
    if found is None:
        return Report.SETTLED
    command, sim = found
    if command.status == rules.QUEUED:
        return Report.NOT_YET
    if command.status != rules.SENT or not command.delivery_receipt_requested:
        return Report.SETTLED
    if delivered:
        _advance(session, command, sim, rules.DELIVERED, ctx.clock(), final=True)
    else:
        _fail(session, command, sim, sms_rules.DELIVERY_ERROR, error or sms_rules.EXPIRED_MESSAGE, ctx.clock())
    await session.flush()
    return Report.APPLIED


async def deliver_ip(
    session: AsyncSession, ctx: PlatformContext, transport: CommandTransport | None, sid: str
) -> WirelessCommand | None:
    """The IP delivery job's work for a Wireless Command: one datagram to the device's DEVICE_PORT."""
    found = await repo.with_sim(session, sid)
    if found is None:
        return None
    command, sim = found
    if command.status != rules.QUEUED:
        return command
    if transport is None:
        delivery = IpDelivery(DeliveryOutcome.NO_USER_PLANE)
    else:
        data = rules.body(command.command, command.command_mode, command.include_sid, command.sid)
        delivery = await transport.send_ip(sim.imsi, rules.DEVICE_PORT, data)
    now = ctx.clock()
    if delivery.outcome == DeliveryOutcome.SENT:
        _advance(session, command, sim, rules.SENT, now, final=True)  # UDP: no receipt will ever come
    else:
        attached = delivery.outcome == DeliveryOutcome.NOT_ATTACHED
        error = ip_rules.NOT_ATTACHED_MESSAGE if attached else ip_rules.NO_USER_PLANE_MESSAGE
        _fail(session, command, sim, ip_rules.DELIVERY_ERROR, error, now)
    await session.flush()
    return command


def _advance(
    session: AsyncSession, command: WirelessCommand, sim: Sim, status: str, now: datetime, *, final: bool
) -> None:
    command.status = status
    command.date_updated = now
    command_outcome("wireless", rules.TO_SIM, status, command.error_code if status == rules.FAILED else None)
    if final and command.callback_url:
        notify(session, command, sim, command.callback_url, command.callback_method)


def _fail(session: AsyncSession, command: WirelessCommand, sim: Sim, code: int, error: str, now: datetime) -> None:
    command.error_code = code
    # The SMS and IP Commands' own messages, in the Wireless resource's one word for both.
    command.error_message = error.replace("SMS Command", "Command").replace("IP Command", "Command")[:256]
    _advance(session, command, sim, rules.FAILED, now, final=True)


# --- from the SIM ----------------------------------------------------------------------------------------


async def record_received_sms(
    session: AsyncSession, ctx: PlatformContext, imsi: str, message: ShortMessage, at: datetime
) -> tuple[Verdict, WirelessCommand | None] | None:
    """An SMS a Wireless SIM sent to the Commands number: a `received` command (text, or binary in base64 for 8-bit
    data) posted to its commands_callback_url, or the refusal the network answers; None when the IMSI is no
    claimed Wireless SIM."""
    sim = await sims_repo.by_imsi(session, imsi)
    if sim is None or sim.product != PRODUCT or sim.account_sid is None:
        return None
    if not lifecycle.takes_commands(sim.status, sim.pending_status):
        return Verdict.BARRED, None
    plan = await plan_repo.get(session, sim.rate_plan_sid) if sim.rate_plan_sid else None
    if plan is None or not plan.messaging_enabled:
        return Verdict.NOT_SUBSCRIBED, None
    if isinstance(message, bytes):
        command = received(session, sim, rules.encode_received(message), rules.BINARY, rules.SMS, at)
    else:
        command = received(session, sim, message, rules.TEXT, rules.SMS, at)
    await count_sms(session, ctx, sim, to_sim=False, now=at)
    await session.flush()
    return Verdict.ACCEPTED, command


def record_received_ip(session: AsyncSession, sim: Sim, payload: bytes, at: datetime) -> WirelessCommand:
    """A datagram a Wireless SIM sent to 100.64.0.1 (its data session was authorized by the AAA)."""
    return received(session, sim, rules.encode_received(payload), rules.BINARY, rules.IP, at)


def received(session: AsyncSession, sim: Sim, body: str, mode: str, transport: str, at: datetime) -> WirelessCommand:
    assert sim.account_sid is not None  # only claimed SIMs send Commands the platform keeps
    command = WirelessCommand(
        sid=new_sid(Prefix.WIRELESS_COMMAND),
        account_sid=sim.account_sid,
        sim_sid=sim.sid,
        command=body,
        command_mode=mode,
        transport=transport,
        delivery_receipt_requested=False,
        include_sid="none",
        status=rules.RECEIVED,
        direction=rules.FROM_SIM,
        date_created=at,
        date_updated=at,
    )
    repo.add(session, command)
    command_outcome("wireless", rules.FROM_SIM, rules.RECEIVED)
    if sim.commands_callback_url:
        notify(session, command, sim, sim.commands_callback_url, sim.commands_callback_method)
    return command


# --- callbacks -------------------------------------------------------------------------------------------


def callback_params(command: WirelessCommand, sim: Sim) -> dict[str, str | None]:
    """The Command's fields as callback parameters (ErrorCode and ErrorMessage only on failure)."""
    return {
        "AccountSid": command.account_sid,
        "CommandSid": command.sid,
        "SimSid": command.sim_sid,
        "SimUniqueName": sim.unique_name,
        "Command": command.command,
        "CommandMode": command.command_mode,
        "Transport": command.transport,
        "Direction": command.direction,
        "Status": command.status,
        "DeliveryReceiptRequested": "true" if command.delivery_receipt_requested else "false",
        **failure_params(command),
    }


def notify(session: AsyncSession, command: WirelessCommand, sim: Sim, url: str, method: str | None) -> WebhookDelivery:
    """Queue the callback for the command's current status, signed with its account's token."""
    return enqueue_status_callback(session, command, EVENT_PREFIX, url, method, callback_params(command, sim))


async def callback_failed(session: AsyncSession, delivery: WebhookDelivery) -> None:
    """A Wireless Command callback never acknowledged is recorded on the command as 83402, as for IP Commands."""
    await record_final_failure(session, delivery, EVENT_PREFIX, repo.get)
