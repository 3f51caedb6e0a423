"""The cache follows the database, and live sessions follow the rules: hooks, the poller, Disconnect-Requests."""

from __future__ import annotations

from sqlalchemy import update

from cellplane.domain.caller import Caller
from cellplane.services import network_access_profiles, sims, wireless_sims
from cellplane.services.context import PlatformContext
from cellplane.store.models import BillingPeriod, Fleet, Sim
from cellplane.store.models.base import utcnow
from tests.unit.network.conftest import StartAaa, eventually, pgw_for
from tests.unit.network.peers import FRANCE, FRANCE_SID, USA, NasListener, Pgw, framed_ip, reply_message
from tests.unit.network.world import World, WorldSim

START = 1


def caller(world: World) -> Caller:
    return Caller(world.account_sid, "SK" + "0" * 32, frozenset({world.account_sid}))


async def attached(pgw: Pgw, sim: WorldSim, session_id: str, plmn: tuple[str, str] = FRANCE) -> str:
    address = framed_ip(await pgw.aaccess(sim.imsi, plmn))
    await pgw.aaccounting(START, sim.imsi, session_id, address=address, plmn=plmn)
    return address


async def change_sim(ctx: PlatformContext, world: World, sim: WorldSim, change: sims.SimUpdate) -> None:
    """What the API and the job runner do: the update (`scheduled`), then the network's confirmation."""
    async with ctx.sessions() as session, session.begin():
        await sims.update(session, ctx, caller(world), sim.sid, change)
    async with ctx.sessions() as session, session.begin():
        await sims.complete_update(session, ctx, sim.sid)


async def test_deactivating_a_sim_disconnects_its_session_at_once(
    ctx: PlatformContext, world: World, start_aaa: StartAaa, nas: tuple[NasListener, int]
) -> None:
    sim = await world.sim("active")
    aaa = await start_aaa(poll_interval=30)  # no poll during the test: the hook alone must do it
    pgw = pgw_for(aaa)
    address = await attached(pgw, sim, "d-1")

    await change_sim(ctx, world, sim, sims.SimUpdate(status="inactive"))

    [request] = await nas[0].wait_for(1, timeout=3)
    assert (request["User-Name"], request["Acct-Session-Id"], request["Framed-IP-Address"]) == (
        sim.imsi,
        "d-1",
        address,
    )
    assert reply_message(await pgw.aaccess(sim.imsi)).startswith("83705 ")


async def test_a_connectivity_reset_disconnects_the_sims_sessions_asking_for_a_new_one(
    ctx: PlatformContext, world: World, start_aaa: StartAaa, nas: tuple[NasListener, int]
) -> None:
    """The `sim_reset` hook (services/wireless_sims.complete_reset): a Disconnect-Request for each live session of the
    SIM, with Acct-Terminate-Cause Callback (the gateway then asks the device to reactivate); other SIMs untouched."""
    sim, other = await world.sim("active"), await world.sim("active")
    aaa = await start_aaa(poll_interval=30)  # no poll during the test: the hook alone must do it
    pgw = pgw_for(aaa)
    address = await attached(pgw, sim, "r-1")
    await attached(pgw, other, "r-2")
    async with ctx.sessions() as session, session.begin():
        await session.execute(update(Sim).where(Sim.sid == sim.sid).values(reset_status=wireless_sims.RESETTING))

    async with ctx.sessions() as session, session.begin():
        done = await wireless_sims.complete_reset(session, ctx, sim.sid)
    assert done is not None and done.reset_status is None

    [request] = await nas[0].wait_for(1, timeout=3)
    assert (request["User-Name"], request["Acct-Session-Id"], request["Framed-IP-Address"]) == (
        sim.imsi,
        "r-1",
        address,
    )
    assert request["Acct-Terminate-Cause"] in ("Callback", 16)
    [event] = await eventually(lambda: _events(world, sim, "disconnect_acked"))
    assert event.error_code is None and event.reason.startswith("Connectivity reset")
    # A reset refuses nothing: the SIM attaches again at once.
    assert framed_ip(await pgw.aaccess(sim.imsi))
    assert len(nas[0].received) == 1


async def test_moving_a_sim_to_a_fleet_with_data_disabled_disconnects_it(
    ctx: PlatformContext, world: World, start_aaa: StartAaa, nas: tuple[NasListener, int]
) -> None:
    closed = await world.add_fleet([FRANCE_SID], data_enabled=False)
    sim = await world.sim("active")
    await world.sim("active", fleet=closed)  # a SIM already there shows the AAA what that fleet allows
    aaa = await start_aaa(poll_interval=30)
    await attached(pgw_for(aaa), sim, "d-2")

    await change_sim(ctx, world, sim, sims.SimUpdate(fleet=closed))

    await nas[0].wait_for(1, timeout=3)
    events = await eventually(lambda: _events(world, sim, "disconnect_acked"))
    assert events[0].error_code == 83704


async def test_the_poller_sees_a_fleet_changed_by_another_process(
    ctx: PlatformContext, world: World, start_aaa: StartAaa, nas: tuple[NasListener, int]
) -> None:
    sim = await world.sim("active")
    aaa = await start_aaa()
    await attached(pgw_for(aaa), sim, "d-3")

    # Another node (no hooks here): a plain UPDATE, as the Fleets API writes it.
    async with ctx.sessions() as session, session.begin():
        await session.execute(
            update(Fleet).where(Fleet.sid == world.fleet_sid).values(data_enabled=False, date_updated=utcnow())
        )

    [request] = await nas[0].wait_for(1, timeout=5)
    assert request["Acct-Session-Id"] == "d-3"
    assert aaa.core.policies.get(sim.imsi).data_enabled is False  # type: ignore[union-attr]


async def test_removing_the_visited_network_from_the_profile_disconnects_sessions_there(
    ctx: PlatformContext, world: World, start_aaa: StartAaa, nas: tuple[NasListener, int]
) -> None:
    in_france, in_usa = await world.sim("active"), await world.sim("active")
    aaa = await start_aaa()
    pgw = pgw_for(aaa)
    await attached(pgw, in_france, "d-4", FRANCE)
    await attached(pgw, in_usa, "d-5", USA)

    async with ctx.sessions() as session, session.begin():
        await network_access_profiles.remove_network(session, caller(world), world.profile_sid, FRANCE_SID)

    [request] = await nas[0].wait_for(1, timeout=5)
    assert request["Acct-Session-Id"] == "d-4"
    assert reply_message(await pgw.aaccess(in_france.imsi, FRANCE)).startswith("83706 ")
    assert len(nas[0].received) == 1  # the session in the USA goes on


async def test_a_nak_session_context_not_found_closes_our_stale_session(
    ctx: PlatformContext, world: World, start_aaa: StartAaa, nas: tuple[NasListener, int]
) -> None:
    nas[0].answer = "nak"
    sim = await world.sim("active")
    aaa = await start_aaa(poll_interval=30)
    await attached(pgw_for(aaa), sim, "d-6")

    await change_sim(ctx, world, sim, sims.SimUpdate(status="inactive"))

    sessions = await eventually(lambda: _closed(world, sim))
    assert sessions[0].terminate_cause == "Admin-Reset"
    assert aaa.core.sessions.of_sim(sim.sid) == []
    events = await eventually(lambda: _events(world, sim, "disconnect_refused"))
    assert "Error-Cause 503" in events[0].reason


async def test_a_nas_that_never_answers_is_retried_then_recorded_as_failed(
    ctx: PlatformContext, world: World, start_aaa: StartAaa, nas: tuple[NasListener, int]
) -> None:
    nas[0].answer = "silent"
    sim = await world.sim("active")
    aaa = await start_aaa(poll_interval=30, disconnect_timeout=0.2, disconnect_retries=2)
    await attached(pgw_for(aaa), sim, "d-7")

    await change_sim(ctx, world, sim, sims.SimUpdate(status="inactive"))

    events = await eventually(lambda: _events(world, sim, "disconnect_failed"))
    assert len(nas[0].received) == 3  # the first send and two retransmissions (RFC 5176 §2.3: same octets)
    assert nas[0].raw[0] == nas[0].raw[1] == nas[0].raw[2]
    assert events[0].error_code == 83705


async def test_usage_counted_by_another_node_reaches_the_limit_here(
    ctx: PlatformContext, world: World, start_aaa: StartAaa, nas: tuple[NasListener, int]
) -> None:
    fleet = await world.add_fleet([FRANCE_SID], data_limit_mb=1)
    sim = await world.sim("active", fleet=fleet)
    aaa = await start_aaa()
    pgw = pgw_for(aaa)
    await attached(pgw, sim, "d-9")
    [period] = await world.periods_of(sim)

    # Another AAA node's accounting batch: the period's usage grows, its date_updated moves.
    async with ctx.sessions() as session, session.begin():
        await session.execute(
            update(BillingPeriod)
            .where(BillingPeriod.sid == period.sid)
            .values(data_used=1_000_000, date_updated=utcnow())
        )

    [request] = await nas[0].wait_for(1, timeout=5)
    assert request["Acct-Session-Id"] == "d-9"
    assert reply_message(await pgw.aaccess(sim.imsi)).startswith("83707 ")


async def test_a_sim_claimed_after_start_is_served_within_a_poll(world: World, start_aaa: StartAaa) -> None:
    """The unbounded cache (every SIM loaded at start) learns of a new SIM from the poller; the bounded one loads it
    when it attaches (test_aaa_bounded_cache.py)."""
    aaa = await start_aaa(cache_sims=0)
    sim = await world.sim("active")

    async def accepted() -> bool:
        return aaa.core.policies.get(sim.imsi) is not None

    assert await eventually(accepted, timeout=3)
    assert framed_ip(await pgw_for(aaa).aaccess(sim.imsi)).startswith("10.64.0.")


async def test_a_restarted_aaa_keeps_live_sessions_and_their_addresses(
    world: World, start_aaa: StartAaa, nas: tuple[NasListener, int]
) -> None:
    sim = await world.sim("active")
    first = await start_aaa()
    address = await attached(pgw_for(first), sim, "d-8")
    await first.stop()

    second = await start_aaa()

    assert framed_ip(await pgw_for(second).aaccess(sim.imsi)) == address
    assert [s.acct_session_id for s in second.core.sessions.of_sim(sim.sid)] == ["d-8"]


async def _events(world: World, sim: WorldSim, event_type: str) -> list:  # type: ignore[type-arg]
    return [e for e in await world.events_of(sim) if e.event_type == event_type]


async def _closed(world: World, sim: WorldSim) -> list:  # type: ignore[type-arg]
    return [s for s in await world.sessions_of(sim) if s.status == "closed"]
