"""IP Commands use cases: accept one to a SIM (`queued`), list, fetch, settle its delivery, call back.

The seed (IPCommand Resource): a command is accepted as `queued` at once; it is then handed to the SIM's
data session (services/ip_command_outbox.py: the queued row is the durable work item) and becomes `sent`,
or `failed` with an error code when the SIM is not attached. The
callback URL is called at each status change after creation ("after we have sent the IP Command", the
spec's CallbackUrl), and a callback that finally fails is recorded on the command with code 83402.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import datetime
from operator import attrgetter
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from cellplane.domain import ip_commands as rules
from cellplane.domain import lifecycle
from cellplane.domain.caller import Caller
from cellplane.domain.errors import InvalidParameter, NotFound
from cellplane.domain.ids import Prefix, is_sid, new_sid
from cellplane.domain.paging import Page, PageSpec
from cellplane.services.command_callbacks import enqueue_status_callback, failure_params, record_final_failure
from cellplane.services.metrics import command_outcome
from cellplane.services.outbox import webhook_job_values, webhook_values
from cellplane.services.transport import DeliveryOutcome, IpDelivery
from cellplane.store.models import IpCommand, WebhookDelivery
from cellplane.store.repositories import ip_commands as repo
from cellplane.store.repositories import sims as sims_repo

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


@dataclass(slots=True)
class Outgoing:
    """A command to a SIM from its acceptance to its recorded outcome: the row's columns (by name), plus what
    sending it needs (the SIM's IMSI) and its callbacks carry (the SIM's unique name). Rendered like a row."""

    sid: str
    account_sid: str
    sim_sid: str
    sim_iccid: str
    imsi: str
    sim_unique_name: str | None
    device_port: int
    payload_type: str
    payload: str
    callback_url: str | None
    callback_method: str | None
    date_created: datetime
    date_updated: datetime
    dispatch_at: datetime | None = None
    status: str = rules.QUEUED
    direction: str = rules.TO_SIM
    device_ip: str | None = None  # the spec: null until the command is sent
    error_code: int | None = None
    error_message: str | None = None

    def snapshot(self) -> Outgoing:
        """A copy as it is now (a request renders it while delivery goes on settling this one); copy.copy of a
        slotted dataclass costs several times this."""
        return Outgoing(*_outgoing_values(self))


_outgoing_values = attrgetter(*(field.name for field in fields(Outgoing)))


def check(request: NewIpCommand) -> None:
    """The synchronous 4xx that need no database: port and payload (size once decoded, base64)."""
    rules.check_port(request.device_port)
    rules.decode_payload(request.payload, request.payload_type)


async def sims_for(
    connection: AsyncConnection, wanted: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], repo.CommandSim]:
    """The SIMs a batch of commands names, keyed by (the caller's account, the `Sim` given): one query per batch."""
    return await repo.sims_for_commands(connection, wanted, PRODUCT, Prefix.SUPER_SIM)


def command_for(account_sid: str, request: NewIpCommand, sim: repo.CommandSim | None, now: datetime) -> Outgoing:
    """A checked command to a SIM of the caller's own account (`sim` from `sims_for`), or the seed's 4xx: unknown
    SIM (one that does not belong to the requesting account, by sid or unique name), SIM not active nor ready."""
    if sim is None:
        raise NotFound("Sim", request.sim)
    if not lifecycle.takes_commands(sim.status, sim.pending_status):
        raise InvalidParameter(
            "Sim", f"Sim {sim.sid} is {sim.status}: IP Commands can be sent only to a Sim that is active or ready"
        )
    return Outgoing(
        sid=new_sid(Prefix.IP_COMMAND),
        account_sid=account_sid,
        sim_sid=sim.sid,
        sim_iccid=sim.iccid,
        imsi=sim.imsi,
        sim_unique_name=sim.unique_name,
        device_port=request.device_port,
        payload_type=request.payload_type,
        payload=request.payload,
        callback_url=request.callback_url or None,
        callback_method=(request.callback_method or "POST") if request.callback_url else None,
        date_created=now,
        date_updated=now,
    )


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


def settle(command: Outgoing, delivery: IpDelivery, now: datetime) -> None:
    """Record what the transport knew: `sent` with the device's address, or `failed` with 83400 and why."""
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
    command.date_updated = now
    command_outcome("ip", rules.TO_SIM, command.status, command.error_code)


class CommandFields(Protocol):
    """What a callback tells of a command: a stored row or an Outgoing one."""

    account_sid: str
    sid: str
    sim_sid: str
    sim_iccid: str
    payload: str
    payload_type: str
    direction: str
    status: str
    device_ip: str | None
    device_port: int
    error_code: int | None
    error_message: str | None


def callback_params(command: CommandFields, sim_unique_name: str | None) -> dict[str, str | None]:
    """The seed's callback parameters (ErrorCode and ErrorMessage only on failure), plus the device's
    address and port, which a receiver of commands from the SIM needs to answer it."""
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
        **failure_params(command),
    }


def notify(
    session: AsyncSession, command: IpCommand, url: str, method: str | None, sim_unique_name: str | None
) -> WebhookDelivery:
    """Queue the callback for the command's current status, signed with its account's token."""
    return enqueue_status_callback(
        session, command, EVENT_PREFIX, url, method, callback_params(command, sim_unique_name)
    )


def callback_values(command: Outgoing, now: datetime) -> tuple[dict[str, Any], dict[str, Any]]:
    """`notify` for a command settled by the outbox: its webhook delivery and job, as Core insert values."""
    assert command.callback_url is not None
    delivery = webhook_values(
        account_sid=command.account_sid,
        event=EVENT_PREFIX + command.status,
        url=command.callback_url,
        method=command.callback_method,
        params=callback_params(command, command.sim_unique_name),
    )
    delivery.update(resource_sid=command.sid, status="pending", attempts=0, date_created=now, date_updated=now)
    return delivery, webhook_job_values(delivery["sid"], now)


async def callback_failed(session: AsyncSession, delivery: WebhookDelivery) -> None:
    """An IP Command callback that was never acknowledged is recorded on the command as 83402."""
    await record_final_failure(session, delivery, EVENT_PREFIX, repo.get)
