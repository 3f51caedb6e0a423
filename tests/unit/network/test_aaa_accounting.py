"""Accounting from pyrad to the real AAA: data sessions, exact usage, never double counted, ready → active,
data limits enforced with a Disconnect-Request, all in group-committed batches on a real database."""

from __future__ import annotations

import asyncio
import socket

from pyrad import packet as pyrad_packet

from cellplane.network.aaa import metrics
from tests.unit.network.conftest import StartAaa, eventually, pgw_for
from tests.unit.network.peers import FRANCE, FRANCE_SID, NasListener, framed_ip, reply_message
from tests.unit.network.world import World

START, STOP, INTERIM, ACCOUNTING_ON = 1, 2, 3, 7


def send_raw(address: tuple[str, int], data: bytes, times: int) -> list[bytes]:
    """The very same octets `times` times, as a NAS retransmits (RFC 2866 §2), waiting for each answer."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(3)
        answers = []
        for _ in range(times):
            sock.sendto(data, address)
            answers.append(sock.recv(4096))
        return answers


async def test_start_interim_stop_make_one_session_with_exact_usage(world: World, start_aaa: StartAaa) -> None:
    sim = await world.sim("active")
    pgw = pgw_for(await start_aaa())
    address = framed_ip(await pgw.aaccess(sim.imsi))

    for status, up, down in ((START, 0, 0), (INTERIM, 1000, 2000), (INTERIM, 3000, 5000), (STOP, 4000, 9000)):
        reply = await pgw.aaccounting(status, sim.imsi, "s-1", up=up, down=down, address=address)
        assert reply.code == pyrad_packet.AccountingResponse

    [session] = await world.sessions_of(sim)
    assert (session.status, session.bytes_up, session.bytes_down, session.ue_ip) == ("closed", 4000, 9000, address)
    assert (session.network_sid, session.iso_country, session.radio_link) == (FRANCE_SID, "FR", "NB-IoT")
    assert (session.cell_id, session.imei, session.apn, session.packets_up) == ("4242", "352686000012344", "super", 40)
    [bucket] = await world.buckets_of(sim)
    assert (bucket.bytes_up, bucket.bytes_down, bucket.network_sid, bucket.fleet_sid) == (
        4000,
        9000,
        FRANCE_SID,
        sim.fleet_sid,
    )
    [period] = await world.periods_of(sim)
    assert period.data_used == 13000
    types = [e.event_type for e in await eventually(lambda: world.events_of(sim))]
    assert types == ["attach_accepted", "session_started", "session_updated", "session_updated", "session_ended"]


async def test_a_retransmitted_accounting_request_is_answered_each_time_but_counted_once(
    world: World, start_aaa: StartAaa
) -> None:
    sim = await world.sim("active")
    aaa = await start_aaa()
    pgw = pgw_for(aaa)
    await pgw.aaccounting(START, sim.imsi, "s-2")
    interim = pgw.accounting_request(INTERIM, sim.imsi, "s-2", up=700, down=300).RequestPacket()
    duplicates = metrics.DUPLICATES._value.get()

    answers = await asyncio.to_thread(send_raw, aaa.acct_address, interim, 3)

    assert answers[0] == answers[1] == answers[2] and answers[0][0] == pyrad_packet.AccountingResponse
    assert metrics.DUPLICATES._value.get() == duplicates + 2
    # pyrad's own retransmission changes Acct-Delay-Time, hence the octets: the cumulative counters still hold.
    await pgw.aaccounting(INTERIM, sim.imsi, "s-2", up=700, down=300, **{"Acct-Delay-Time": 3})
    [bucket] = await world.buckets_of(sim)
    assert (bucket.bytes_up, bucket.bytes_down) == (700, 300)
    assert (await world.periods_of(sim))[0].data_used == 1000


async def test_reordered_interims_and_gigawords_count_only_growth(world: World, start_aaa: StartAaa) -> None:
    sim = await world.sim("active")
    pgw = pgw_for(await start_aaa())
    big = 5 * 2**32 + 7  # RFC 2869: five wraps of the 32-bit counter

    await pgw.aaccounting(INTERIM, sim.imsi, "s-3", up=5000, down=big)  # the Start was lost: still a session
    await pgw.aaccounting(INTERIM, sim.imsi, "s-3", up=3000, down=1000)  # late, older totals
    await pgw.aaccounting(STOP, sim.imsi, "s-3", up=5001, down=big)

    [session] = await world.sessions_of(sim)
    assert (session.bytes_up, session.bytes_down, session.status) == (5001, big, "closed")
    [bucket] = await world.buckets_of(sim)
    assert (bucket.bytes_up, bucket.bytes_down) == (5001, big)


async def test_a_ready_sim_turns_active_after_250_kb(world: World, start_aaa: StartAaa) -> None:
    sim = await world.sim("ready")
    aaa = await start_aaa()
    pgw = pgw_for(aaa)

    await pgw.aaccounting(INTERIM, sim.imsi, "s-4", up=100_000, down=100_000)
    assert (await world.row(sim)).status == "ready"
    await pgw.aaccounting(INTERIM, sim.imsi, "s-4", up=150_000, down=100_000)

    row = await world.row(sim)
    assert (row.status, row.ready_bytes) == ("active", 250_000)
    ready, active = await world.periods_of(sim)
    assert (ready.period_type, active.period_type) == ("ready", "active")
    assert ready.end_time == active.start_time
    assert aaa.core.policies.get(sim.imsi).status == "active"  # type: ignore[union-attr]


async def test_crossing_the_data_limit_disconnects_the_session_and_blocks_attaches(
    world: World, start_aaa: StartAaa, nas: tuple[NasListener, int]
) -> None:
    fleet = await world.add_fleet([FRANCE_SID], data_limit_mb=1)
    sim = await world.sim("active", fleet=fleet)
    pgw = pgw_for(await start_aaa())
    address = framed_ip(await pgw.aaccess(sim.imsi, FRANCE))
    await pgw.aaccounting(START, sim.imsi, "s-5", address=address)

    await pgw.aaccounting(INTERIM, sim.imsi, "s-5", up=400_000, down=600_000, address=address)

    [request] = await nas[0].wait_for(1)
    assert (request["User-Name"], request["Acct-Session-Id"], request["Framed-IP-Address"]) == (
        sim.imsi,
        "s-5",
        address,
    )
    assert isinstance(request["Event-Timestamp"], object)
    reply = await pgw.aaccess(sim.imsi, FRANCE)
    assert reply_message(reply).startswith("83707 ")
    events = await eventually(
        lambda: _types(world, sim, "disconnect_acked"),
    )
    assert events[0].error_code == 83707


async def _types(world: World, sim: object, event_type: str) -> list:  # type: ignore[type-arg]
    return [e for e in await world.events_of(sim) if e.event_type == event_type]  # type: ignore[arg-type]


async def test_accounting_on_closes_every_session_of_that_nas(world: World, start_aaa: StartAaa) -> None:
    one, two = await world.sim("active"), await world.sim("active")
    aaa = await start_aaa()
    pgw = pgw_for(aaa)
    await pgw.aaccounting(START, one.imsi, "s-6")
    await pgw.aaccounting(START, two.imsi, "s-7")
    assert len(aaa.core.sessions.of_sim(one.sid)) == 1

    request = pgw.client().CreateAcctPacket()
    request["Acct-Status-Type"] = ACCOUNTING_ON
    request["NAS-Identifier"] = pgw.nas_identifier
    await pgw.asend(request)

    for sim in (one, two):
        [session] = await world.sessions_of(sim)
        assert (session.status, session.terminate_cause) == ("closed", "NAS-Reboot")
    assert aaa.core.sessions.of_sim(one.sid) == []


async def test_accounting_of_an_unknown_imsi_is_acknowledged_and_dropped(world: World, start_aaa: StartAaa) -> None:
    pgw = pgw_for(await start_aaa())
    before = metrics.ACCOUNTING_IGNORED._value.get()

    reply = await pgw.aaccounting(START, "901530000000000", "s-8", up=10)

    assert reply.code == pyrad_packet.AccountingResponse
    assert metrics.ACCOUNTING_IGNORED._value.get() == before + 1


async def test_a_burst_is_applied_in_few_transactions_and_every_request_answered(
    world: World, start_aaa: StartAaa
) -> None:
    sims = [await world.sim("active") for _ in range(20)]
    aaa = await start_aaa()
    pgw = pgw_for(aaa)
    packets = [
        pgw.accounting_request(INTERIM, sim.imsi, f"burst-{sim.sid}-{n}", up=100, down=10).RequestPacket()
        for sim in sims
        for n in range(10)
    ]
    batches = aaa.writer.batches

    def burst() -> int:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)  # 200 answers arrive at once
            sock.bind(("127.0.0.1", 0))
            sock.settimeout(5)
            for data in packets:
                sock.sendto(data, aaa.acct_address)
            return sum(1 for _ in packets if sock.recv(4096)[0] == pyrad_packet.AccountingResponse)

    assert await asyncio.to_thread(burst) == 200
    assert aaa.writer.batches - batches < 100
    for sim in sims:
        [bucket] = await world.buckets_of(sim)
        assert (bucket.bytes_up, bucket.bytes_down) == (1000, 100)


async def test_two_nodes_writing_one_session_count_its_growth_once(world: World, start_aaa: StartAaa) -> None:
    """Each node remembers the sessions it wrote (no read for their next Interim-Update) and takes a Start's session
    as new without a read; a row the other node has changed since fails the guarded update, and a Start of a session
    the other node created fails on the unique index: either batch is redone from the database, nothing counted
    twice."""
    sim = await world.sim("active")
    first, second = await start_aaa(), await start_aaa()
    a, b = pgw_for(first), pgw_for(second)
    address = framed_ip(await a.aaccess(sim.imsi))
    steps = ((a, START, 0, 0), (b, START, 0, 0), (a, INTERIM, 1000, 2000), (b, INTERIM, 3000, 5000))
    steps += ((a, INTERIM, 4000, 6000),)
    for pgw, status, up, down in (*steps, (b, STOP, 5000, 9000)):
        reply = await pgw.aaccounting(status, sim.imsi, "shared", up=up, down=down, address=address)
        assert reply.code == pyrad_packet.AccountingResponse

    [session] = await world.sessions_of(sim)
    assert (session.status, session.bytes_up, session.bytes_down) == ("closed", 5000, 9000)
    [bucket] = await world.buckets_of(sim)
    assert (bucket.bytes_up, bucket.bytes_down) == (5000, 9000)
    [period] = await world.periods_of(sim)
    assert period.data_used == 14000
    assert len(second.writer.known) == 0  # a closed session is not remembered (the first node's copy is stale)
    types = [e.event_type for e in await eventually(lambda: world.events_of(sim))]
    assert types.count("session_started") == 1 and types.count("session_updated") == 3
    assert types.count("session_ended") == 1


async def test_sessions_are_found_by_index_after_the_table_grew_under_the_writer(
    world: World, start_aaa: StartAaa
) -> None:
    """PostgreSQL keeps a prepared statement's generic plan until the tables' statistics change: one made while
    data_sessions was small scans all of it for every batch once it has grown (autovacuum off, or not come by yet).
    The writer has each batch planned for the table as it is (driver_sql.plan_every_statement)."""
    engine = world.sessions.kw["bind"]
    if engine.dialect.name != "postgresql":
        return
    sims = [await world.sim("active") for _ in range(8)]
    aaa = await start_aaa()
    pgw = pgw_for(aaa)
    for sim in sims:  # one batch each, on a table of a few rows: more than the 5 runs before a generic plan
        await pgw.aaccounting(START, sim.imsi, f"grow-{sim.sid}")
    async with engine.begin() as connection:  # the table grows by 20,000 sessions, none analyzed
        await connection.exec_driver_sql(
            "INSERT INTO data_sessions (sid, account_sid, sim_sid, fleet_sid, imsi, nas_id, acct_session_id, status, "
            "bytes_up, bytes_down, packets_up, packets_down, start, last_updated) "
            "SELECT 'WN' || md5(i::text), account_sid, sim_sid, fleet_sid, imsi, 'elsewhere', 'old-' || i, 'closed', "
            "0, 0, 0, 0, start, last_updated FROM data_sessions, generate_series(1, 20000) AS i "
            f"WHERE acct_session_id = 'grow-{sims[0].sid}'"
        )
    for n, sim in enumerate(sims * 2):
        await pgw.aaccounting(INTERIM, sim.imsi, f"grow-{sim.sid}", up=n + 1)
    await aaa.stop()
    await engine.dispose()  # the backends exit, and report their statistics

    async def read_tuples() -> int | None:
        async with engine.connect() as connection:
            others = await connection.exec_driver_sql(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            if others.scalar():
                return None
            stats = await connection.exec_driver_sql(
                "SELECT seq_tup_read FROM pg_stat_user_tables WHERE relname = 'data_sessions'"
            )
            return int(stats.scalar() or 0) + 1  # + 1: truthy for eventually()

    read = await eventually(read_tuples)
    assert read is not None and read - 1 < 20_000  # no batch after the growth read the table through
    for n, sim in enumerate(sims):
        [session] = [s for s in await world.sessions_of(sim) if s.nas_id != "elsewhere"]
        assert session.bytes_up == n + 9
