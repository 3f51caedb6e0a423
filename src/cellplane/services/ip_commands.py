"""IP Commands use cases: send one to a SIM (queued, then a durable job), list, fetch, deliver, call back.

The seed (IPCommand Resource): a command is accepted as `queued` at once; a job hands it to the SIM's
data session and it becomes `sent`, or `failed` with an error code when the SIM is not attached. The
callback URL is called at each status change after creation ("after we have sent the IP Command", the
spec's CallbackUrl), and a callback that finally fails is recorded on the command with code 83402.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from cellplane.domain import ip_commands as rules
from cellplane.domain import lifecycle
from cellplane.domain.caller import Caller
from cellplane.domain.errors import InvalidParameter, NotFound
from cellplane.domain.ids import Prefix, is_sid, new_sid
from cellplane.domain.paging import Page, PageSpec
from cellplane.services.context import PlatformContext
from cellplane.services.outbox import enqueue, enqueue_webhook
from cellplane.services.transport import CommandTransport, DeliveryOutcome, IpDelivery
from cellplane.store.models import IpCommand, Sim, WebhookDelivery
from cellplane.store.repositories import ip_commands as repo
from cellplane.store.repositories import sims as sims_repo

IP_COMMAND_JOB = "ip_command"
EVENT_PREFIX = "ip_command."  # webhook events: ip_command.sent, ip_command.failed, ip_command.received
PRODUCT = "supersim"


@dataclass(frozen=True)
class NewIpCommand:
    """The parameters of POST /IpCommands, as given (DevicePort already an integer)."""

    sim: str
    payload: str
    device_port: int
    payload_type: str = "text"
    callback_url: str | None = None
    callback_method: str | None = None


@dataclass(frozen=True)
class CommandQuery:
    """The filters of GET /IpCommands; None means "any"."""

    sim: str | None = None
    sim_iccid: str | None = None
    status: str | None = None
    direction: str | None = None


def _reachable_status(sim: Sim) -> str:
    """The status that decides whether a command may go: while an update is `scheduled`, where it is going
    (an active SIM moving to another fleet stays reachable; one being deactivated does not)."""
    if sim.status == "scheduled" and sim.pending_status:
        return sim.pending_status
    return sim.status


async def create(session: AsyncSession, ctx: PlatformContext, caller: Caller, request: NewIpCommand) -> IpCommand:
    """Accept a command to a SIM of the caller's own account; it is written with the job that sends it."""
    rules.check_port(request.device_port)
    rules.decode_payload(request.payload, request.payload_type)
    # The seed's "Unknown SIM": a SIM that does not belong to the requesting account, by sid or unique name.
    sim = await sims_repo.find_visible(session, request.sim, [caller.account_sid], PRODUCT)
    if sim is None:
        raise NotFound("Sim", request.sim)
    status = _reachable_status(sim)
    if status not in lifecycle.CONNECTABLE:
        raise InvalidParameter(
            "Sim", f"Sim {sim.sid} is {sim.status}: IP Commands can be sent only to a Sim that is active or ready"
        )
    now = ctx.clock()
    command = IpCommand(
        sid=new_sid(Prefix.IP_COMMAND),
        account_sid=caller.account_sid,
        sim_sid=sim.sid,
        sim_iccid=sim.iccid,
        status=rules.QUEUED,
        direction=rules.TO_SIM,
        device_ip=None,  # the spec: null until the command is sent
        device_port=request.device_port,
        payload_type=request.payload_type,
        payload=request.payload,
        callback_url=request.callback_url or None,
        callback_method=(request.callback_method or "POST") if request.callback_url else None,
        date_created=now,
        date_updated=now,
    )
    repo.add(session, command)
    enqueue(session, IP_COMMAND_JOB, {"sid": command.sid}, delay=ctx.command_delay)
    await session.flush()
    return command


async def list_commands(session: AsyncSession, caller: Caller, query: CommandQuery, spec: PageSpec) -> Page[IpCommand]:
    sim_sids: set[str] = set()
    if query.sim is not None:
        if is_sid(query.sim, Prefix.SUPER_SIM):
            sim_sids.add(query.sim)  # also finds commands of a SIM that has since left the account
        else:
            sim = await sims_repo.find_visible(session, query.sim, [caller.account_sid], PRODUCT)
            sim_sids.add(sim.sid if sim is not None else "")
    if query.sim_iccid is not None:
        sim = await sims_repo.by_iccid(session, query.sim_iccid)
        sim_sids.add(sim.sid if sim is not None else "")
    if "" in sim_sids or len(sim_sids) > 1:  # no such SIM, or two filters naming different SIMs
        return Page(items=[], has_next=False, has_previous=False)
    where = repo.CommandFilter(sim_sid=next(iter(sim_sids), None), status=query.status, direction=query.direction)
    return await repo.page(session, repo.list_query(caller.account_sid, where), spec)


async def fetch(session: AsyncSession, caller: Caller, sid: str) -> IpCommand:
    command = await repo.find_visible(session, sid, caller.visible) if is_sid(sid, Prefix.IP_COMMAND) else None
    if command is None:
        raise NotFound("IpCommand", sid)
    return command


async def deliver(
    session: AsyncSession, ctx: PlatformContext, transport: CommandTransport | None, sid: str
) -> IpCommand | None:
    """Send a queued command through `transport` and record the outcome; a settled command is left alone,
    so a job re-run after a crash does not send it twice (unless the crash fell between send and commit)."""
    found = await repo.with_sim(session, sid)
    if found is None:
        return None  # purged (retention) before it was dequeued
    command, sim = found
    if command.status != rules.QUEUED:
        return command
    if transport is None:
        delivery = IpDelivery(DeliveryOutcome.NO_USER_PLANE)
    else:
        data = rules.stored_payload(command.payload, command.payload_type)
        delivery = await transport.send_ip(sim.imsi, command.device_port, data)
    if delivery.outcome == DeliveryOutcome.SENT:
        command.status = rules.SENT
        command.device_ip = delivery.device_ip
    else:
        command.status = rules.FAILED
        command.error_code = rules.DELIVERY_ERROR
        command.error_message = (
            rules.NOT_ATTACHED_MESSAGE
            if delivery.outcome == DeliveryOutcome.NOT_ATTACHED
            else rules.NO_USER_PLANE_MESSAGE
        )
    command.date_updated = ctx.clock()
    if command.callback_url:
        notify(session, command, command.callback_url, command.callback_method, sim.unique_name)
    await session.flush()
    return command


def callback_params(command: IpCommand, sim_unique_name: str | None) -> dict[str, str | None]:
    """The seed's callback parameters (ErrorCode and ErrorMessage only on failure), plus the device's
    address and port, which a receiver of commands from the SIM needs to answer it."""
    failed = command.status == rules.FAILED
    return {
        "AccountSid": command.account_sid,
        "CommandSid": command.sid,
        "SimSid": command.sim_sid,
        "SimUniqueName": sim_unique_name,
        "SimIccid": command.sim_iccid,
        "Payload": command.payload,
        "PayloadType": command.payload_type,
        "Direction": command.direction,
        "Status": command.status,
        "DeviceIp": command.device_ip,
        "DevicePort": str(command.device_port),
        "ErrorCode": str(command.error_code) if failed and command.error_code is not None else None,
        "ErrorMessage": command.error_message if failed else None,
    }


def notify(
    session: AsyncSession, command: IpCommand, url: str, method: str | None, sim_unique_name: str | None
) -> WebhookDelivery:
    """Queue the callback for the command's current status, signed with its account's token."""
    return enqueue_webhook(
        session,
        account_sid=command.account_sid,
        event=EVENT_PREFIX + command.status,
        url=url,
        method=method,
        params=callback_params(command, sim_unique_name),
        resource_sid=command.sid,
    )


async def callback_failed(session: AsyncSession, delivery: WebhookDelivery) -> None:
    """WebhookSender's final-failure hook: an IP Command callback that was never acknowledged is recorded on
    the command as 83402 (an earlier error, like a failed delivery's 83400, is kept: it says more)."""
    if not delivery.event.startswith(EVENT_PREFIX) or delivery.resource_sid is None:
        return
    command = await repo.get(session, delivery.resource_sid)
    if command is None or command.error_code is not None:
        return
    answer = f"HTTP {delivery.last_status_code}" if delivery.last_status_code else (delivery.last_error or "no answer")
    command.error_code = rules.CALLBACK_ERROR
    command.error_message = f"The callback to {delivery.url} failed after {delivery.attempts} attempts: {answer}"[:256]
    await session.flush()
