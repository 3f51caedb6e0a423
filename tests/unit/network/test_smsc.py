"""The SMS center in-process over a real database: delivery reports (one racing the job that sent its command, one
whose validity period ends), SMS from SIMs stored or refused with their RP-Cause, and five SMS making a `ready` SIM
`active` with their hourly usage counted.

The radio leg is the center's own seam (`deliver`), scripted here as the emulator's devices would answer.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import update

from cellplane.domain import sms_commands as rules
from cellplane.domain.caller import Caller
from cellplane.jobs.sms_commands import SmsCommandDelivery
from cellplane.network.smsc import MtAttempt, MtResult, SmsCenter
from cellplane.protocols.sms import RpCause
from cellplane.services import sms_commands
from cellplane.services.context import PlatformContext
from cellplane.store.models import BillingPeriod, Fleet, SettingsUpdate, SmsCommand, UsageBucket, WebhookDelivery
from tests.unit.network.conftest import eventually
from tests.unit.network.world import World, WorldSim


def caller_of(world: World) -> Caller:
    return Caller(world.account_sid, world.account_sid, frozenset({world.account_sid}))


async def queue(ctx: PlatformContext, world: World, sim: WorldSim, text: str, **callback: str) -> str:
    """POST /SmsCommands, as the API does it: the command and its job, committed together."""
    request = sms_commands.NewSmsCommand(sim=sim.sid, payload=text, **callback)
    async with ctx.sessions() as session, session.begin():
        command = await sms_commands.create(session, ctx, caller_of(world), request)
    return command.sid


async def command(world: World, sid: str) -> SmsCommand:
    [found] = await world.get(SmsCommand, sid=sid)
    return found


async def test_a_report_racing_the_job_that_sent_its_command_waits_for_the_commit(
    ctx: PlatformContext, world: World
) -> None:
    # GIVEN an idle device that answers its page at once: the report is ready before the job's transaction ends
    sim = await world.sim("active")
    answered: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
    answered.set_result(True)
    center = SmsCenter(ctx, deliver=lambda imsi, text: MtAttempt(MtResult.PENDING, answered))
    sid = await queue(ctx, world, sim, "paged", callback_url="http://127.0.0.1:9/cb")
    # WHEN the job hands it to the center
    await SmsCommandDelivery(center)(ctx, {"sid": sid})
    # THEN the report is applied once `sent` is committed, not lost
    delivered = await eventually(lambda: _status_is(world, sid, rules.DELIVERED))
    assert delivered and (delivered.error_code, delivered.error_message) == (None, None)
    hooks = await world.get(WebhookDelivery, resource_sid=sid)
    assert sorted(h.event for h in hooks) == ["sms_command.delivered", "sms_command.sent"]
    assert center.counters["mt_delivered"] == 1 and center.pending == 0
    await center.stop()


async def test_an_sms_the_device_never_takes_fails_when_its_validity_period_ends(
    ctx: PlatformContext, world: World
) -> None:
    sim = await world.sim("active")
    asleep: asyncio.Future[bool] = asyncio.get_running_loop().create_future()  # an eDRX sleeper that never wakes
    center = SmsCenter(ctx, deliver=lambda imsi, text: MtAttempt(MtResult.PENDING, asleep), validity=0.1)
    sid = await queue(ctx, world, sim, "too late")

    await SmsCommandDelivery(center)(ctx, {"sid": sid})

    assert (await command(world, sid)).status == rules.SENT
    failed = await eventually(lambda: _status_is(world, sid, rules.FAILED))
    assert failed and (failed.error_code, failed.error_message) == (rules.DELIVERY_ERROR, rules.EXPIRED_MESSAGE)
    assert asleep.cancelled()  # the device side drops what the center gave up on
    await center.stop()


async def test_sms_from_sims_are_stored_or_refused_with_the_rp_cause(ctx: PlatformContext, world: World) -> None:
    center = SmsCenter(ctx)
    sender, inactive = await world.sim("active"), await world.sim("inactive")
    silent_fleet = await world.add_fleet([])
    quiet = await world.sim("active", fleet=silent_fleet)
    async with ctx.sessions() as session, session.begin():
        await session.execute(update(Fleet).where(Fleet.sid == silent_fleet).values(sms_commands_enabled=False))
        await session.execute(
            update(Fleet).where(Fleet.sid == world.fleet_sid).values(sms_commands_url="http://127.0.0.1:9/mo")
        )

    refusals = {
        "unknown": await center.submit_from_device("001019999999999", "hello"),
        "inactive": await center.submit_from_device(inactive.imsi, "hello"),
        "sms disabled": await center.submit_from_device(quiet.imsi, "hello"),
        "too long": await center.submit_from_device(sender.imsi, "x" * 161),
    }
    accepted = await center.submit_from_device(sender.imsi, "temp=21.5")

    assert {case: answer.cause for case, answer in refusals.items()} == {
        "unknown": RpCause.UNKNOWN_SUBSCRIBER,
        "inactive": RpCause.OPERATOR_DETERMINED_BARRING,
        "sms disabled": RpCause.REQUESTED_FACILITY_NOT_SUBSCRIBED,
        "too long": RpCause.INVALID_MANDATORY_INFORMATION,
    }
    assert not any(answer.accepted for answer in refusals.values())
    assert accepted.accepted and accepted.command_sid is not None
    [stored] = await world.get(SmsCommand, account_sid=world.account_sid)
    assert (stored.sid, stored.status, stored.direction, stored.payload) == (
        accepted.command_sid,
        rules.RECEIVED,
        rules.FROM_SIM,
        "temp=21.5",
    )
    [hook] = await world.get(WebhookDelivery, resource_sid=stored.sid)
    assert (hook.url, hook.event, hook.params["Status"]) == (
        "http://127.0.0.1:9/mo",
        "sms_command.received",
        "received",
    )
    [bucket] = await world.buckets_of(sender)
    assert (bucket.sms_from_sim, bucket.sms_to_sim, bucket.fleet_sid) == (1, 0, world.fleet_sid)


async def test_8bit_data_from_a_super_sim_is_refused_as_not_implemented(ctx: PlatformContext, world: World) -> None:
    # GIVEN a Super SIM that may send SMS Commands (whose payload is text)
    center = SmsCenter(ctx)
    sender = await world.sim("active")
    # WHEN its device sends 8-bit data, or more than one SMS of it
    binary = await center.submit_from_device(sender.imsi, bytes([0x00, 0xFF, 0x1B]))
    too_long = await center.submit_from_device(sender.imsi, bytes(141))
    unknown = await center.submit_from_device("001019999999999", b"\x01")
    # THEN the network answers RP-ERROR (69: facility not implemented; 96: too long) and nothing is stored
    assert (binary.accepted, binary.cause) == (False, RpCause.REQUESTED_FACILITY_NOT_IMPLEMENTED)
    assert (too_long.accepted, too_long.cause) == (False, RpCause.INVALID_MANDATORY_INFORMATION)
    assert unknown.cause == RpCause.UNKNOWN_SUBSCRIBER
    assert await world.get(SmsCommand, account_sid=world.account_sid) == []
    assert await world.buckets_of(sender) == []
    assert center.counters["mo_refused"] == 3 and (await center.submit_from_device(sender.imsi, "text")).accepted


async def test_five_sms_make_a_ready_sim_active_and_count_in_its_hour(ctx: PlatformContext, world: World) -> None:
    sim = await world.sim("ready")
    changed: list[Any] = []
    ctx.hooks["sim_status_changed"] = [lambda sim, _session: changed.append(sim)]
    center = SmsCenter(ctx, deliver=lambda imsi, text: MtAttempt(MtResult.DELIVERED))
    for number in range(3):
        await SmsCommandDelivery(center)(ctx, {"sid": await queue(ctx, world, sim, f"to #{number}")})
    assert (await center.submit_from_device(sim.imsi, "from #1")).accepted
    assert (await world.row(sim)).status == "ready" and (await world.row(sim)).ready_sms == 4

    assert (await center.submit_from_device(sim.imsi, "from #2")).accepted

    row = await world.row(sim)
    assert (row.status, row.ready_sms) == ("active", 5) and row.date_activated is not None
    assert [s.sid for s in changed] == [sim.sid]  # the AAA hears of it
    assert {p.period_type for p in await world.get(BillingPeriod, sim_sid=sim.sid)} == {"ready", "active"}
    assert len(await world.get(SettingsUpdate, sim_sid=sim.sid)) == 1
    [bucket] = await world.get(UsageBucket, sim_sid=sim.sid)
    assert (bucket.sms_to_sim, bucket.sms_from_sim, bucket.bytes_up) == (3, 2, 0)
    assert bucket.hour.minute == bucket.hour.second == 0
    # An active SIM counts no further toward the rule, but its usage still counts.
    assert (await center.submit_from_device(sim.imsi, "from #3")).accepted
    assert (await world.row(sim)).ready_sms == 5
    assert [b.sms_from_sim for b in await world.get(UsageBucket, sim_sid=sim.sid)] == [3]


async def _status_is(world: World, sid: str, status: str) -> SmsCommand | None:
    found = await command(world, sid)
    return found if found.status == status else None
