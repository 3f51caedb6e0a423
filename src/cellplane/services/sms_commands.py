"""SMS Commands use cases: send one to a SIM (queued, then a durable job), list, fetch, record what the SMS center
reports (delivered or failed) and what devices send (received), and call back at each status change.

The SMSCommand resource docs: a command is accepted as `queued`; a job hands it to the SMS center and it
becomes `sent`, then `delivered` once the device has it, or `failed` when the SIM cannot be reached. SMS
from a SIM become `received` commands posted to its fleet's `sms_commands_url`. Each SMS either way counts
toward the SIM's usage and its ready -> active rule (services/sms_usage.py). Same shape as IP Commands
(services/ip_commands.py); the callbacks carry the seed's parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from cellplane.domain import lifecycle
from cellplane.domain import sms_commands as rules
from cellplane.domain.caller import Caller
from cellplane.domain.errors import InvalidParameter, NotFound
from cellplane.domain.ids import Prefix, is_sid, new_sid
from cellplane.domain.paging import Page, PageSpec
from cellplane.protocols.sms import ShortMessage, measure
from cellplane.services.command_callbacks import enqueue_status_callback, failure_params
from cellplane.services.context import PlatformContext
from cellplane.services.metrics import command_outcome
from cellplane.services.outbox import enqueue
from cellplane.services.sims import find_addressable
from cellplane.services.sms_usage import count_sms
from cellplane.services.transport import SmsOutcome, SmsSubmission, SmsTransport
from cellplane.store.models import Fleet, Sim, SmsCommand, WebhookDelivery
from cellplane.store.repositories import sims as sims_repo
from cellplane.store.repositories import sms_commands as repo

SMS_COMMAND_JOB = "sms_command"
EVENT_PREFIX = "sms_command."  # webhook events: sms_command.sent, .delivered, .failed, .received
PRODUCT = "supersim"


@dataclass(frozen=True)
class NewSmsCommand:
    """The parameters of POST /SmsCommands, as given."""

    sim: str
    payload: str
    callback_url: str | None = None
    callback_method: str | None = None


@dataclass(frozen=True)
class CommandQuery:
    """The filters of GET /SmsCommands; None means "any"."""

    sim: str | None = None
    status: str | None = None
    direction: str | None = None


class Verdict(StrEnum):
    """What the platform answers an SMS from a SIM (the SMS center turns a refusal into an RP-ERROR)."""

    ACCEPTED = "accepted"
    UNKNOWN_SIM = "unknown_sim"  # no account holds this IMSI
    BARRED = "barred"  # the SIM is neither ready nor active
    NOT_SUBSCRIBED = "not_subscribed"  # its fleet has SMS Commands disabled (or it has no fleet)
    TEXT_ONLY = "text_only"  # 8-bit data from a Super SIM: an SMS Command's payload is text


class Report(StrEnum):
    """What became of a delivery report."""

    APPLIED = "applied"
    NOT_YET = "not_yet"  # the command is still `queued`: the job that sent it has not committed yet
    SETTLED = "settled"  # already delivered or failed, or purged: nothing to do


def check_payload(payload: str) -> None:
    """One SMS of text: 160 characters of the GSM 7-bit alphabet, or 70 when it needs UCS-2 (protocols/sms.py)."""
    size = measure(payload)
    if not size.fits:
        raise InvalidParameter(
            "Payload",
            f"Payload is {size.length} {size.unit}; an SMS Command carries at most {size.limit}"
            + ("" if size.limit == 160 else " (characters outside the GSM 7-bit alphabet need UCS-2)"),
        )


def _reachable_fleet(sim: Sim) -> str | None:
    """The fleet whose settings apply: while an update moving the SIM is `scheduled`, the one it is going to."""
    return sim.pending_fleet_sid if sim.status == "scheduled" and sim.pending_fleet_set else sim.fleet_sid


def _fleet_refusal(sim: Sim, fleet: Fleet | None) -> str | None:
    if fleet is None:
        return f"Sim {sim.sid} is in no Fleet: SMS Commands need a Fleet with SMS Commands enabled"
    if not fleet.sms_commands_enabled:
        return f"SMS Commands are disabled on the Fleet of Sim {sim.sid} (its sms_commands_enabled is false)"
    return None


async def create(session: AsyncSession, ctx: PlatformContext, caller: Caller, request: NewSmsCommand) -> SmsCommand:
    """Accept a command to a SIM of the caller's account or, for a parent, of a subaccount (the SIM's account owns
    the command); it is written with the job that sends it."""
    check_payload(request.payload)
    sim = await find_addressable(session, caller, request.sim, PRODUCT)
    if sim is None:
        raise NotFound("Sim", request.sim)
    if not lifecycle.takes_commands(sim.status, sim.pending_status):
        raise InvalidParameter(
            "Sim", f"Sim {sim.sid} is {sim.status}: SMS Commands can be sent only to a Sim that is active or ready"
        )
    refusal = _fleet_refusal(sim, await repo.fleet(session, _reachable_fleet(sim)))
    if refusal is not None:
        raise InvalidParameter("Sim", refusal)
    now = ctx.clock()
    command = new_command(
        sim.account_sid or caller.account_sid,
        sim.sid,
        request.payload,
        rules.TO_SIM,
        now,
        callback_url=request.callback_url,
        callback_method=request.callback_method,
    )
    repo.add(session, command)
    enqueue(session, SMS_COMMAND_JOB, {"sid": command.sid}, delay=ctx.command_delay)
    await session.flush()
    return command


async def list_commands(session: AsyncSession, caller: Caller, query: CommandQuery, spec: PageSpec) -> Page[SmsCommand]:
    sim_sid: str | None = None
    if query.sim is not None:
        if is_sid(query.sim, Prefix.SUPER_SIM):
            sim_sid = query.sim  # also finds commands of a SIM that has since left the account
        else:
            sim = await sims_repo.find_visible(session, query.sim, [caller.account_sid], PRODUCT)
            if sim is None:
                return Page(items=[], has_next=False, has_previous=False)
            sim_sid = sim.sid
    where = repo.CommandFilter(
        sim_sid=sim_sid, status=query.status, direction=query.direction, sim_prefix=str(Prefix.SUPER_SIM)
    )
    return await repo.page(session, repo.list_query(caller.account_sid, where), spec)


async def fetch(session: AsyncSession, caller: Caller, sid: str) -> SmsCommand:
    command = await repo.find_visible(session, sid, caller.visible) if is_sid(sid, Prefix.SMS_COMMAND) else None
    if command is None or command.sim_sid.startswith(Prefix.THING):  # a Thing's SMS is /things/v1's, not ours
        raise NotFound("SmsCommand", sid)
    return command


async def deliver(
    session: AsyncSession, ctx: PlatformContext, transport: SmsTransport | None, sid: str
) -> SmsCommand | None:
    """Hand a queued command to the SMS center and record its answer; a settled command is left alone, so a
    job re-run after a crash does not send it twice (unless the crash fell between submit and commit)."""
    found = await repo.with_sim(session, sid)
    if found is None:
        return None  # purged (retention) before it was dequeued
    command, sim = found
    if command.status != rules.QUEUED:
        return command
    if transport is None:
        submission = SmsSubmission(SmsOutcome.NO_SMSC)
    else:
        submission = await transport.send_sms(command.sid, sim.imsi, command.payload)
    now = ctx.clock()
    if submission.outcome in (SmsOutcome.SENT, SmsOutcome.DELIVERED):
        _advance(session, command, sim, rules.SENT, now)
        await count_sms(session, ctx, sim, to_sim=True, now=now)
        if submission.outcome == SmsOutcome.DELIVERED:
            _advance(session, command, sim, rules.DELIVERED, now)
    else:
        message = rules.NO_SMSC_MESSAGE if submission.outcome == SmsOutcome.NO_SMSC else rules.NOT_REACHABLE_MESSAGE
        _advance(session, command, sim, rules.FAILED, now, error=message)
    await session.flush()
    return command


async def record_report(
    session: AsyncSession, ctx: PlatformContext, sid: str, delivered: bool, error: str | None = None
) -> Report:
    """The SMS center's delivery report for a `sent` command: `delivered`, or `failed` with `error`."""
    found = await repo.with_sim(session, sid)
    if found is None:
        return Report.SETTLED
    command, sim = found
    if command.status == rules.QUEUED:
        return Report.NOT_YET
    if command.status != rules.SENT:
        return Report.SETTLED
    if delivered:
        _advance(session, command, sim, rules.DELIVERED, ctx.clock())
    else:
        _advance(session, command, sim, rules.FAILED, ctx.clock(), error=error or rules.EXPIRED_MESSAGE)
    await session.flush()
    return Report.APPLIED


async def record_received(
    session: AsyncSession, ctx: PlatformContext, imsi: str, message: ShortMessage, at: datetime
) -> tuple[Verdict, SmsCommand | None]:
    """An SMS a SIM sent: a `received` command posted to its fleet's URL, unless the SIM may not send SMS (or sent
    8-bit data, which no SMS Command carries)."""
    found = await repo.sim_by_imsi(session, imsi)
    if found is None:
        return Verdict.UNKNOWN_SIM, None
    if isinstance(message, bytes):
        return Verdict.TEXT_ONLY, None
    text = message
    sim, fleet = found
    if not lifecycle.takes_commands(sim.status, sim.pending_status):
        return Verdict.BARRED, None
    if fleet is None or not fleet.sms_commands_enabled:
        return Verdict.NOT_SUBSCRIBED, None
    assert sim.account_sid is not None  # sim_by_imsi returns claimed SIMs only
    command = new_command(sim.account_sid, sim.sid, text, rules.FROM_SIM, at)
    repo.add(session, command)
    command_outcome("sms", rules.FROM_SIM, rules.RECEIVED)
    if fleet.sms_commands_url:
        notify(session, command, sim, fleet.sms_commands_url, fleet.sms_commands_method)
    await count_sms(session, ctx, sim, to_sim=False, now=at)
    await session.flush()
    return Verdict.ACCEPTED, command


def new_command(
    account_sid: str,
    sim_sid: str,
    payload: str,
    direction: str,
    at: datetime,
    *,
    callback_url: str | None = None,
    callback_method: str | None = None,
) -> SmsCommand:
    """An SMS Command as every surface stores it (Super SIM's and the Things' SMS share the table and the delivery
    job): one to the SIM starts `queued`, one from it `received`; a callback's method defaults to POST."""
    return SmsCommand(
        sid=new_sid(Prefix.SMS_COMMAND),
        account_sid=account_sid,
        sim_sid=sim_sid,
        payload=payload,
        status=rules.QUEUED if direction == rules.TO_SIM else rules.RECEIVED,
        direction=direction,
        callback_url=callback_url or None,
        callback_method=(callback_method or "POST") if callback_url else None,
        date_created=at,
        date_updated=at,
    )


def _advance(
    session: AsyncSession, command: SmsCommand, sim: Sim, status: str, now: datetime, *, error: str | None = None
) -> None:
    """A status change: recorded, and called back when the command has a callback URL."""
    command.status = status
    command.date_updated = now
    if error is not None:
        command.error_code = rules.DELIVERY_ERROR
        command.error_message = error
    command_outcome("sms", rules.TO_SIM, status, command.error_code if error is not None else None)
    if command.callback_url:
        notify(session, command, sim, command.callback_url, command.callback_method)


def callback_params(command: SmsCommand, sim: Sim) -> dict[str, str | None]:
    """The seed's callback parameters (ErrorCode and ErrorMessage only on failure), plus the SIM's ICCID as the
    IP Command callbacks carry it."""
    return {
        "AccountSid": command.account_sid,
        "CommandSid": command.sid,
        "SimSid": command.sim_sid,
        "SimUniqueName": sim.unique_name,
        "SimIccid": sim.iccid,
        "Payload": command.payload,
        "PayloadType": rules.PAYLOAD_TYPE,
        "Direction": command.direction,
        "Status": command.status,
        **failure_params(command),
    }


def notify(session: AsyncSession, command: SmsCommand, sim: Sim, url: str, method: str | None) -> WebhookDelivery:
    """Queue the callback for the command's current status, signed with its account's token."""
    return enqueue_status_callback(session, command, EVENT_PREFIX, url, method, callback_params(command, sim))
