"""The bounded policy cache (CELLPLANE_AAA_CACHE_SIMS): SIMs loaded when first used, the least recently used ones
evicted, and an evicted SIM decided as before once it is loaded again (status, data limit, usage)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import update

from cellplane.services import network_policy, sims
from cellplane.services.context import PlatformContext
from cellplane.store.models import Fleet, Sim
from cellplane.store.models.base import utcnow
from tests.unit.network.conftest import StartAaa, eventually, pgw_for
from tests.unit.network.peers import FRANCE_SID, NasListener, framed_ip, reply_message
from tests.unit.network.test_aaa_enforcement import START, attached, change_sim
from tests.unit.network.world import World

STOP, INTERIM = 2, 3


async def test_sims_are_loaded_when_they_attach_and_the_least_recently_used_leave(
    world: World, start_aaa: StartAaa
) -> None:
    first, second, third = [await world.sim("active") for _ in range(3)]
    aaa = await start_aaa(cache_sims=2)
    assert len(aaa.core.policies) == 0  # nothing loaded at start but open sessions' SIMs (none) and Things
    pgw = pgw_for(aaa)

    for sim in (first, second, third):
        assert framed_ip(await pgw.aaccess(sim.imsi)).startswith("10.64.")
    assert set(aaa.core.policies.by_imsi) == {second.imsi, third.imsi}  # the first was the least recently used
    assert aaa.core.policies.evictions == 1

    assert framed_ip(await pgw.aaccess(first.imsi)).startswith("10.64.")  # loaded again
    assert first.imsi in aaa.core.policies.by_imsi and len(aaa.core.policies) == 2


async def test_a_sim_with_an_open_session_stays_cached_over_the_bound(world: World, start_aaa: StartAaa) -> None:
    held, *others = [await world.sim("active") for _ in range(4)]
    aaa = await start_aaa(cache_sims=1)
    pgw = pgw_for(aaa)
    await attached(pgw, held, "b-1")
    for sim in others:
        await pgw.aaccess(sim.imsi)
    assert held.imsi in aaa.core.policies.by_imsi
    assert len(aaa.core.policies) == 2  # the held one and the last one: the bound applies to the others


async def test_concurrent_misses_for_one_sim_share_one_load(world: World, start_aaa: StartAaa) -> None:
    sim = await world.sim("active")
    aaa = await start_aaa(cache_sims=10)
    pgw = pgw_for(aaa)
    assert aaa.core.on_demand is not None

    replies = await asyncio.gather(*(pgw.aaccess(sim.imsi) for _ in range(10)))
    assert all(framed_ip(reply).startswith("10.64.") for reply in replies)
    assert aaa.core.on_demand.loads == 1


async def test_an_unknown_imsi_is_rejected_and_a_sim_claimed_later_is_then_served(
    ctx: PlatformContext, world: World, start_aaa: StartAaa
) -> None:
    sim = await world.sim("active", claimed=False)
    aaa = await start_aaa(cache_sims=10)
    pgw = pgw_for(aaa)
    assert reply_message(await pgw.aaccess(sim.imsi)).startswith("83701 ")
    assert sim.imsi in aaa.core.policies.unknown  # asked again: answered from memory

    async with ctx.sessions() as session, session.begin():  # claimed through another node: the poller sees it
        await session.execute(
            update(Sim)
            .where(Sim.sid == sim.sid)
            .values(account_sid=world.account_sid, fleet_sid=world.fleet_sid, claimed_at=utcnow())
            .values(date_updated=utcnow())
        )

    async def served() -> bool:
        return (await pgw.aaccess(sim.imsi)).code == 2  # Access-Accept once the poller saw the claim

    assert await eventually(served, timeout=5)


async def test_an_evicted_sim_suspended_meanwhile_is_rejected_when_loaded_again(
    ctx: PlatformContext, world: World, start_aaa: StartAaa
) -> None:
    sim, other = await world.sim("active"), await world.sim("active")
    aaa = await start_aaa(cache_sims=1, poll_interval=30)  # no poll: the load itself must read the change
    pgw = pgw_for(aaa)
    assert framed_ip(await pgw.aaccess(sim.imsi)).startswith("10.64.")
    assert framed_ip(await pgw.aaccess(other.imsi)).startswith("10.64.")
    assert sim.imsi not in aaa.core.policies.by_imsi

    await change_sim(ctx, world, sim, sims.SimUpdate(status="inactive"))

    assert reply_message(await pgw.aaccess(sim.imsi)).startswith("83705 ")


async def test_an_evicted_sim_reloaded_keeps_its_periods_usage(
    world: World, start_aaa: StartAaa, nas: tuple[NasListener, int]
) -> None:
    """Usage is stored in the SIM's billing period with every accounting batch: a SIM loaded again knows it."""
    fleet = await world.add_fleet([FRANCE_SID], data_limit_mb=1)
    sim, other = await world.sim("active", fleet=fleet), await world.sim("active")
    aaa = await start_aaa(cache_sims=1)
    pgw = pgw_for(aaa)
    address = await attached(pgw, sim, "u-1")
    await pgw.aaccounting(INTERIM, sim.imsi, "u-1", address=address, up=400_000, down=300_000)
    await pgw.aaccounting(STOP, sim.imsi, "u-1", address=address, up=600_000, down=500_000)  # over 1 MB
    assert framed_ip(await pgw.aaccess(other.imsi)).startswith("10.64.")
    assert sim.imsi not in aaa.core.policies.by_imsi

    assert reply_message(await pgw.aaccess(sim.imsi)).startswith("83707 ")
    policy = aaa.core.policies.get(sim.imsi)
    assert policy is not None and policy.period_data_used == 1_100_000


async def test_accounting_of_a_sim_not_cached_is_stored_and_loads_it(world: World, start_aaa: StartAaa) -> None:
    sim = await world.sim("active")
    aaa = await start_aaa(cache_sims=10)
    pgw = pgw_for(aaa)
    await pgw.aaccounting(START, sim.imsi, "a-1", address="10.64.9.9")
    await pgw.aaccounting(INTERIM, sim.imsi, "a-1", address="10.64.9.9", up=1000, down=2000)

    assert sim.imsi in aaa.core.policies.by_imsi
    [session] = await world.sessions_of(sim)
    assert session.bytes_up + session.bytes_down == 3000


async def test_a_changed_fleet_is_reloaded_in_steps_that_let_the_loop_run(
    ctx: PlatformContext, world: World, start_aaa: StartAaa, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fleet of many cached SIMs is rebuilt a STEP at a time, yielding the loop between steps (at a million SIMs
    one rebuild was seconds of RADIUS answers held), and every SIM of it ends with the new snapshot."""
    members = [await world.sim("active") for _ in range(7)]
    aaa = await start_aaa(cache_sims=100)
    pgw = pgw_for(aaa)
    for sim in members:
        await pgw.aaccess(sim.imsi)
    assert {sim.imsi for sim in members} <= set(aaa.core.policies.by_imsi)
    async with ctx.sessions() as session, session.begin():
        await session.execute(update(Fleet).where(Fleet.sid == world.fleet_sid).values(data_enabled=False))
    monkeypatch.setattr(network_policy, "STEP", 2)

    ticks = 0  # turns of another task: it runs only when the reload yields the loop
    reloading = True
    built_at: list[int] = []  # the ticks seen by each build of snapshots, and by each handing over to the cache
    applied_at: list[int] = []
    build, refresh = network_policy._build, aaa.core.refresh

    def counted_build(*args: Any, **kwargs: Any) -> Any:
        built_at.append(ticks)
        return build(*args, **kwargs)

    def counted_refresh(imsi: str, policy: Any) -> None:
        applied_at.append(ticks)
        refresh(imsi, policy)

    monkeypatch.setattr(network_policy, "_build", counted_build)
    monkeypatch.setattr(aaa.core, "refresh", counted_refresh)

    async def ticker() -> None:
        nonlocal ticks
        while reloading:
            ticks += 1
            await asyncio.sleep(0)

    counting = asyncio.create_task(ticker())
    await aaa.refresher.reload_named({("fleet", world.fleet_sid)})
    reloading = False
    await counting
    # 7 SIMs in steps of 2: four builds, the loop run between them; handed over two at a time, the loop run between.
    assert len(built_at) == 4 and built_at == sorted(set(built_at)), built_at
    assert len(applied_at) == 7 and len(set(applied_at)) == 4, applied_at
    assert all(not aaa.core.policies.by_imsi[sim.imsi].data_enabled for sim in members)
