"""SMS of Things (THINGS.md): M2M SMS to and from a Thing only, stored as SMS Commands (the same table, the same
delivery job and SMS center as Super SIM SMS Commands); `services.sms = false` refuses them both ways, each refusal
recorded as a connection event `sms_refused` (error 83710)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from cellplane.domain import sms_commands as rules
from cellplane.domain import things
from cellplane.domain.caller import Caller
from cellplane.domain.errors import InvalidParameter
from cellplane.domain.ids import Prefix, new_sid
from cellplane.domain.paging import Page, PageSpec
from cellplane.domain.policy import EventType, RejectCode
from cellplane.protocols.sms import ShortMessage, measure
from cellplane.services.context import PlatformContext
from cellplane.services.outbox import enqueue
from cellplane.services.sms_commands import SMS_COMMAND_JOB, Verdict, new_command
from cellplane.services.sms_usage import count_sms
from cellplane.services.things import fetch
from cellplane.store.models import ConnectionEvent, Sim, SmsCommand
from cellplane.store.repositories import sms_commands as repo
from cellplane.store.repositories import things as things_repo


def refusal_event(session: AsyncSession, thing: Sim, direction: str, at: datetime) -> None:
    """The connection event of an SMS refused by services.sms (it is written with whatever else commits)."""
    session.add(
        ConnectionEvent(
            sid=new_sid(Prefix.CONNECTION_EVENT),
            account_sid=thing.account_sid,
            sim_sid=thing.sid,
            iccid=thing.iccid,
            imsi=thing.imsi,
            event_type=EventType.SMS_REFUSED.value,
            reason=f"{RejectCode.SMS_DISABLED.reason} (an SMS {direction.replace('_', ' ')})",
            error_code=int(RejectCode.SMS_DISABLED),
            timestamp=at,
        )
    )


async def send(
    session: AsyncSession, ctx: PlatformContext, caller: Caller, key: str, text: object
) -> SmsCommand | None:
    """An SMS to the Thing, queued for the SMS center; None when services.sms refused it (the refusal's event is
    in the session: the caller commits it and answers 400)."""
    thing = await fetch(session, caller, key)
    if not isinstance(text, str) or not text:
        raise InvalidParameter("text", "text must be the SMS text")
    size = measure(text)
    if not size.fits:
        raise InvalidParameter("text", f"text is {size.length} {size.unit}; an SMS carries at most {size.limit}")
    if not thing.services_sms:
        refusal_event(session, thing, rules.TO_SIM, ctx.clock())
        await session.flush()
        return None
    if things.state_of(thing.status, thing.pending_status) != things.ACTIVE:
        raise InvalidParameter("state", f"Thing {thing.sid} is not ACTIVE: only an ACTIVE Thing takes SMS")
    now = ctx.clock()
    command = new_command(caller.account_sid, thing.sid, text, rules.TO_SIM, now)
    repo.add(session, command)
    enqueue(session, SMS_COMMAND_JOB, {"sid": command.sid}, delay=ctx.command_delay)
    await session.flush()
    return command


async def list_sms(session: AsyncSession, caller: Caller, key: str, spec: PageSpec) -> Page[SmsCommand]:
    thing = await fetch(session, caller, key)
    where = repo.CommandFilter(sim_sid=thing.sid)
    return await repo.page(session, repo.list_query(caller.account_sid, where), spec)


async def record_received(
    session: AsyncSession, ctx: PlatformContext, imsi: str, message: ShortMessage, at: datetime
) -> tuple[Verdict, SmsCommand | None] | None:
    """An SMS from a device: if its SIM is a Thing, stored as received (or refused: services.sms false, or the Thing
    not ACTIVE); None when the SIM is no Thing (the other products decide)."""
    thing = await things_repo.thing_by_imsi(session, imsi)
    if thing is None:
        return None
    if not thing.services_sms:
        refusal_event(session, thing, rules.FROM_SIM, at)
        await session.flush()
        return Verdict.NOT_SUBSCRIBED, None
    if things.state_of(thing.status, thing.pending_status) != things.ACTIVE:
        return Verdict.BARRED, None
    text = message if isinstance(message, str) else message.hex()
    assert thing.account_sid is not None
    command = new_command(thing.account_sid, thing.sid, text, rules.FROM_SIM, at)
    repo.add(session, command)
    await count_sms(session, ctx, thing, to_sim=False, now=at)
    await session.flush()
    return Verdict.ACCEPTED, command
