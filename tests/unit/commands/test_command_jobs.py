"""The commands' jobs against a real database: the 30-day retention purge and its schedule, a callback that
finally fails recorded as 83402, commands from SIMs stored in batches, and the IP Command outbox (group commit,
dispatch without a user plane, the recovery sweep).

The webhook sender is the real one; only its HTTP transport is httpx's own MockTransport (the seam httpx
offers for this), so that a receiver answering 503 costs no socket and no waiting.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from cellplane.domain.callback_targets import TargetPolicy
from cellplane.domain.errors import NotFound
from cellplane.domain.ids import Prefix, SidFactory
from cellplane.jobs.retention import RetentionPurge
from cellplane.jobs.runner import RetryLater
from cellplane.jobs.singleton import LeaseLost, Singleton
from cellplane.jobs.webhooks import WebhookSender
from cellplane.services import ip_commands, retention
from cellplane.services.context import PlatformContext
from cellplane.services.inbound_ip_commands import InboundIpCommands
from cellplane.services.ip_command_outbox import IpCommandOutbox
from cellplane.services.transport import DeliveryOutcome, IpDelivery
from cellplane.store.db import make_engine, make_sessionmaker
from cellplane.store.models import (
    Fleet,
    IpCommand,
    Job,
    SmsCommand,
    WebhookAttempt,
    WebhookDelivery,
    WirelessCommand,
)
from cellplane.store.models.base import utcnow
from tests.unit.network.world import World

FRANCE = "HWfc7662d1550d36406f5dfde0babc071d"


def sid_at(prefix: Prefix, when: datetime) -> str:
    return SidFactory().new(prefix, at_ms=int(when.timestamp() * 1000))


def ip_command(when: datetime, **fields: object) -> IpCommand:
    values: dict[str, object] = {
        "sid": sid_at(Prefix.IP_COMMAND, when),
        "account_sid": "AC" + "1" * 32,
        "sim_sid": "HS" + "1" * 32,
        "sim_iccid": "89883070000000000001",
        "status": "sent",
        "direction": "to_sim",
        "device_port": 6655,
        "payload_type": "text",
        "payload": "hello",
        "date_created": when,
        "date_updated": when,
        **fields,
    }
    return IpCommand(**values)


def wireless_command(when: datetime) -> WirelessCommand:
    return WirelessCommand(
        sid=sid_at(Prefix.WIRELESS_COMMAND, when), account_sid="AC" + "1" * 32, sim_sid="DE" + "1" * 32,
        command="reboot", status="delivered", direction="to_sim", date_created=when, date_updated=when,
    )  # fmt: skip


def delivery(when: datetime, status: str) -> WebhookDelivery:
    return WebhookDelivery(
        sid=sid_at(Prefix.WEBHOOK_DELIVERY, when),
        account_sid="AC" + "1" * 32,
        event="ip_command.sent",
        url="http://127.0.0.1:9/hook",
        params={},
        idempotency_token="t",
        status=status,
        date_created=when,
        date_updated=when,
    )


async def count(ctx: PlatformContext, model: type, *where: object) -> int:
    async with ctx.sessions() as session:
        return int((await session.execute(select(func.count()).select_from(model).where(*where))).scalar_one())


async def test_retention_purges_what_is_older_than_30_days_and_keeps_one_schedule(
    ctx: PlatformContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(retention, "BATCH", 2)  # several batches in one run
    now = utcnow()
    old, recent = now - timedelta(days=30, minutes=5), now - timedelta(days=29, hours=23)
    old_commands = [ip_command(old - timedelta(seconds=n)) for n in range(5)]
    kept_command = ip_command(recent)
    old_sms = SmsCommand(
        sid=sid_at(Prefix.SMS_COMMAND, old), account_sid="AC" + "1" * 32, sim_sid="HS" + "1" * 32,
        payload="hi", status="sent", direction="to_sim", date_created=old, date_updated=old,
    )  # fmt: skip
    old_wireless = [wireless_command(old - timedelta(seconds=n)) for n in range(3)]  # more than a batch
    kept_wireless = wireless_command(recent)
    delivered, failed, pending, fresh = (
        delivery(old, "delivered"),
        delivery(old, "failed"),
        delivery(old, "pending"),
        delivery(recent, "delivered"),
    )
    async with ctx.sessions() as session, session.begin():
        session.add_all([*old_commands, kept_command, old_sms, *old_wireless, kept_wireless])
        session.add_all([delivered, failed, pending, fresh])
        session.add_all(WebhookAttempt(delivery_sid=d.sid, attempt=1, status_code=200) for d in (delivered, fresh))
        session.add(Job(kind="sim_update", payload={}, status="done", run_at=old, date_created=old))
        session.add(Job(kind="sim_update", payload={}, status="pending", run_at=old, date_created=old))
    async with ctx.sessions() as session, session.begin():
        assert await retention.ensure_scheduled(session)
    async with ctx.sessions() as session, session.begin():
        assert not await retention.ensure_scheduled(session)  # one is enough
    async with ctx.sessions() as session, session.begin():  # the runner claims it
        await session.execute(update(Job).where(Job.kind == retention.RETENTION_JOB).values(status="running"))

    await RetentionPurge(interval=3600)(ctx, {})

    assert await count(ctx, IpCommand) == 1 and await count(ctx, IpCommand, IpCommand.sid == kept_command.sid) == 1
    assert await count(ctx, SmsCommand) == 0
    assert await count(ctx, WirelessCommand) == 1
    assert await count(ctx, WirelessCommand, WirelessCommand.sid == kept_wireless.sid) == 1
    remaining = await count(ctx, WebhookDelivery, WebhookDelivery.sid.in_([d.sid for d in (failed, delivered)]))
    assert remaining == 0
    assert await count(ctx, WebhookDelivery, WebhookDelivery.sid.in_([pending.sid, fresh.sid])) == 2
    assert await count(ctx, WebhookAttempt, WebhookAttempt.delivery_sid == delivered.sid) == 0
    assert await count(ctx, WebhookAttempt, WebhookAttempt.delivery_sid == fresh.sid) == 1
    assert await count(ctx, Job, Job.kind == "sim_update", Job.status == "done") == 0
    assert await count(ctx, Job, Job.kind == "sim_update", Job.status == "pending") == 1
    async with ctx.sessions() as session:
        [next_run] = (
            await session.execute(select(Job).where(Job.kind == retention.RETENTION_JOB, Job.status == "pending"))
        ).scalars()
    assert timedelta(minutes=59) < next_run.run_at - now < timedelta(minutes=61)
    # A re-run (its worker died before marking it done) purges nothing more and starts no second chain.
    await RetentionPurge(interval=3600)(ctx, {})
    assert await count(ctx, Job, Job.kind == retention.RETENTION_JOB, Job.status == "pending") == 1
    assert await count(ctx, IpCommand) == 1
    assert await count(ctx, WirelessCommand) == 1


async def test_retention_purges_on_one_node_at_a_time(ctx: PlatformContext) -> None:
    """Issue 21: the purge holds the `retention` singleton lease; while another node holds it nothing is purged,
    and a holder whose lease was taken over (it paused past it) writes nothing with its old epoch."""
    old = utcnow() - timedelta(days=31)
    async with ctx.sessions() as session, session.begin():
        session.add(ip_command(old))
    other = Singleton(ctx, retention.RETENTION_JOB, lease_seconds=60)
    assert await other.acquire() is not None

    await RetentionPurge(interval=3600)(ctx, {})
    assert await count(ctx, IpCommand, IpCommand.date_created < utcnow() - timedelta(days=30)) == 1  # not ours

    # The other node pauses past a short lease and we take over: its next write is refused, ours goes through.
    await other.release()
    paused = Singleton(ctx, retention.RETENTION_JOB, lease_seconds=0.05)
    first = await paused.acquire()
    await asyncio.sleep(0.2)
    taker = Singleton(ctx, retention.RETENTION_JOB, lease_seconds=60)
    second = await taker.acquire()
    assert first is not None and second is not None and second > first
    with pytest.raises(LeaseLost):
        async with paused.fenced() as session:
            await retention.purge_batch(session, utcnow())
    assert await count(ctx, IpCommand, IpCommand.date_created < utcnow() - timedelta(days=30)) == 1
    async with taker.fenced() as session:
        await retention.purge_batch(session, utcnow())
    assert await count(ctx, IpCommand, IpCommand.date_created < utcnow() - timedelta(days=30)) == 0
    await taker.release()


async def test_a_callback_that_finally_fails_is_recorded_as_83402(ctx: PlatformContext) -> None:
    answers: list[int] = []

    def receiver(request: httpx.Request) -> httpx.Response:
        answers.append(503)
        return httpx.Response(503)

    now = utcnow()
    sent, failed = ip_command(now), ip_command(now, status="failed", error_code=83400, error_message="not attached")
    async with ctx.sessions() as session, session.begin():
        session.add_all([sent, failed])
        deliveries = [ip_commands.notify(session, c, "http://127.0.0.1:9/cb", "POST", None) for c in (sent, failed)]
    async with httpx.AsyncClient(transport=httpx.MockTransport(receiver)) as client:
        # The lab setting, as the suite's servers have it: the callback URL is on loopback.
        sender = WebhookSender(client, max_attempts=2, targets=TargetPolicy(allow_private=True))
        sender.on_final_failure.append(ip_commands.callback_failed)
        for hook in deliveries:
            with pytest.raises(RetryLater):
                await sender(ctx, {"delivery_sid": hook.sid})
            await sender(ctx, {"delivery_sid": hook.sid})  # the last attempt: no retry asked
    assert answers == [503] * 4
    async with ctx.sessions() as session:
        after_sent, after_failed = await session.get(IpCommand, sent.sid), await session.get(IpCommand, failed.sid)
        row = await session.get(WebhookDelivery, deliveries[0].sid)
    assert after_sent is not None and after_failed is not None and row is not None
    assert (row.status, row.attempts, row.last_status_code) == ("failed", 2, 503)
    assert (after_sent.status, after_sent.error_code) == ("sent", 83402)
    assert after_sent.error_message is not None and "HTTP 503" in after_sent.error_message
    assert after_failed.error_code == 83400  # the delivery error says more than its callback's


async def test_commands_from_sims_are_stored_in_batches_and_posted_to_the_fleet(ctx: PlatformContext) -> None:
    world = await World(ctx.sessions).setup([FRANCE])
    async with ctx.sessions() as session, session.begin():
        await session.execute(
            update(Fleet).where(Fleet.sid == world.fleet_sid).values(ip_commands_url="http://127.0.0.1:9/mo")
        )
    with_url, without_fleet = await world.sim(), await world.sim(fleet=False)
    inbound = InboundIpCommands(ctx, max_queue=4, max_batch=3)
    assert inbound.offer(with_url.imsi, "10.64.0.9", 7000, b"\x00\xff")
    assert inbound.offer(without_fleet.imsi, "10.64.0.10", 7001, b"hi")
    assert inbound.offer("001010000000000", "10.64.0.11", 7002, b"nobody's")
    assert inbound.offer(with_url.imsi, "10.64.0.9", 7003, b"again")
    assert not inbound.offer(with_url.imsi, "10.64.0.9", 7004, b"full")  # dropped, never waited for
    await inbound.start()
    await inbound.stop()
    assert (inbound.recorded, inbound.dropped) == (3, 1)
    async with ctx.sessions() as session:
        stored = list(await session.execute(select(IpCommand).where(IpCommand.account_sid == world.account_sid)))
        hooks = list(
            (
                await session.execute(select(WebhookDelivery).where(WebhookDelivery.account_sid == world.account_sid))
            ).scalars()
        )
    commands = sorted((row[0] for row in stored), key=lambda c: c.device_port)
    assert [(c.status, c.direction, c.payload_type) for c in commands] == [("received", "from_sim", "binary")] * 3
    assert [(c.sim_sid, c.device_ip, c.device_port, c.payload) for c in commands] == [
        (with_url.sid, "10.64.0.9", 7000, "AP8="),
        (without_fleet.sid, "10.64.0.10", 7001, "aGk="),
        (with_url.sid, "10.64.0.9", 7003, "YWdhaW4="),
    ]
    assert sorted(h.resource_sid or "" for h in hooks) == sorted([commands[0].sid, commands[2].sid])
    assert {h.event for h in hooks} == {"ip_command.received"} and {h.url for h in hooks} == {"http://127.0.0.1:9/mo"}
    assert hooks[0].params["Payload"] in ("AP8=", "YWdhaW4=") and hooks[0].params["Direction"] == "from_sim"


def command(sim: str, **fields: object) -> ip_commands.NewIpCommand:
    fields = {"payload": "hello", "device_port": 6655, **fields}
    return ip_commands.NewIpCommand(sim=sim, **fields)  # type: ignore[arg-type]


async def test_the_outbox_commits_in_groups_and_without_a_gateway_fails_with_83400(ctx: PlatformContext) -> None:
    world = await World(ctx.sessions).setup([FRANCE])
    sim = await world.sim()
    outbox = IpCommandOutbox(ctx, None, sweep_interval=60)
    await outbox.start()
    try:
        requests = [command(sim.sid) for _ in range(20)] + [command(sim.sid, callback_url="http://127.0.0.1:9/cb")]
        results = await asyncio.gather(
            *(outbox.submit(world.account_sid, request) for request in requests),
            outbox.submit(world.account_sid, command("no-such-sim")),
            outbox.submit("AC" + "9" * 32, command(sim.sid)),  # another account's SIM: unknown to it
            return_exceptions=True,
        )
        *sent, called, unknown, foreign = results
        assert {type(c).__name__ for c in sent} == {"Outgoing"} and {c.status for c in sent} == {"queued"}
        assert isinstance(unknown, NotFound) and isinstance(foreign, NotFound)
        assert isinstance(called, ip_commands.Outgoing)
        # Every request waited for its commit; twenty-three requests at once shared a handful of transactions.
        assert outbox.batches <= 3
        async with ctx.sessions() as session:
            written = (await session.execute(select(func.count()).where(IpCommand.sim_sid == sim.sid))).scalar()
        assert written == 21
    finally:
        await outbox.stop()  # sends what it accepted and records the outcomes first
    async with ctx.sessions() as session:
        rows = (await session.execute(select(IpCommand).where(IpCommand.sim_sid == sim.sid))).scalars().all()
        hooks = (
            (await session.execute(select(WebhookDelivery).where(WebhookDelivery.resource_sid == called.sid)))
            .scalars()
            .all()
        )
        jobs = (await session.execute(select(Job.payload).where(Job.kind == "webhook"))).scalars().all()
    assert {(row.status, row.error_code, row.dispatch_at) for row in rows} == {("failed", 83400, None)}
    [hook] = hooks
    assert (hook.event, hook.url, hook.params["Status"], hook.params["ErrorCode"]) == (
        "ip_command.failed",
        "http://127.0.0.1:9/cb",
        "failed",
        "83400",
    )
    assert {"delivery_sid": hook.sid} in jobs  # the callback's job, written in the same transaction


class HeldTransport:
    """A user plane that holds every datagram until the test lets it through (what a busy gateway looks like to
    the outbox), recording what it was given."""

    def __init__(self) -> None:
        self.released = asyncio.Event()
        self.sent: list[bytes] = []

    async def send_ip(self, imsi: str, device_port: int, payload: bytes) -> IpDelivery:
        await self.released.wait()
        self.sent.append(payload)
        return IpDelivery(DeliveryOutcome.SENT, device_ip="10.64.0.9")


async def test_the_outbox_answers_and_commits_the_next_batch_while_one_is_being_sent(ctx: PlatformContext) -> None:
    world = await World(ctx.sessions).setup([FRANCE])
    sim = await world.sim()
    transport = HeldTransport()
    outbox = IpCommandOutbox(ctx, transport, sweep_interval=60)
    await outbox.start()
    try:
        first = await asyncio.wait_for(outbox.submit(world.account_sid, command(sim.sid, payload="one")), 5)
        # The first command is stuck in the user plane: its 201 came anyway, and the next batch still commits.
        second = await asyncio.wait_for(outbox.submit(world.account_sid, command(sim.sid, payload="two")), 5)
        assert (first.status, second.status) == ("queued", "queued") and transport.sent == []
    finally:
        transport.released.set()
        await outbox.stop()  # waits for the deliveries and records their outcomes
    async with ctx.sessions() as session:
        status = dict((await session.execute(select(IpCommand.sid, IpCommand.status))).tuples().all())
    assert (status[first.sid], status[second.sid]) == ("sent", "sent")
    assert transport.sent == [b"one", b"two"]  # in the order they were accepted
    assert outbox.batches >= 2


async def test_on_postgresql_the_next_batch_goes_to_the_database_before_the_last_one_is_answered(
    ctx: PlatformContext,
) -> None:
    """On PostgreSQL the server answers one batch while the next is in the database, never idle during a commit;
    SQLite writes on the server's own CPU, and there a batch is answered first (bigger batches)."""
    world = await World(ctx.sessions).setup([FRANCE])
    sim = await world.sim()
    outbox = IpCommandOutbox(ctx, None, sweep_interval=60)
    events: list[str] = []
    in_database, let_go = asyncio.Event(), asyncio.Event()
    commit = outbox._commit

    async def slow_commit(new: list[Any], settled: list[Any]) -> Any:
        payloads = [request.payload for _, request, _ in new]
        if payloads:
            events.append(f"commit {payloads}")
        if payloads == ["one"]:  # the database takes its time with the first batch
            in_database.set()
            await let_go.wait()
        return await commit(new, settled)

    outbox._commit = slow_commit  # type: ignore[method-assign]
    await outbox.start()

    async def send(payload: str) -> None:
        await outbox.submit(world.account_sid, command(sim.sid, payload=payload))
        events.append(f"answered {payload}")

    try:
        first = asyncio.create_task(send("one"))
        await asyncio.wait_for(in_database.wait(), 5)
        second = asyncio.create_task(send("two"))
        await asyncio.sleep(0.05)  # "two" waits behind the batch in the database
        let_go.set()
        await asyncio.wait_for(asyncio.gather(first, second), 5)
    finally:
        await outbox.stop()
    if ctx.engine is not None and ctx.engine.dialect.name == "postgresql":
        assert events == ["commit ['one']", "commit ['two']", "answered one", "answered two"]
    else:
        assert events == ["commit ['one']", "answered one", "commit ['two']", "answered two"]


async def test_the_recovery_sweep_sends_what_a_dead_process_left_queued(ctx: PlatformContext) -> None:
    world = await World(ctx.sessions).setup([FRANCE])
    sim = await world.sim()
    now = utcnow()
    overdue = ip_command(now, sim_sid=sim.sid, status="queued", dispatch_at=now - timedelta(seconds=1))
    later = ip_command(now, sim_sid=sim.sid, status="queued", dispatch_at=now + timedelta(minutes=5))
    settled = ip_command(now, sim_sid=sim.sid, status="sent")
    async with ctx.sessions() as session, session.begin():
        session.add_all([overdue, later, settled])
    outbox = IpCommandOutbox(ctx, None, sweep_interval=60)
    await outbox.start()  # sweeps at once
    try:
        for _ in range(200):
            async with ctx.sessions() as session:
                row = await session.get(IpCommand, overdue.sid)
            if row is not None and row.status != "queued":
                break
            await asyncio.sleep(0.02)
    finally:
        await outbox.stop()
    async with ctx.sessions() as session:
        status = dict((await session.execute(select(IpCommand.sid, IpCommand.status))).tuples().all())
    assert (status[overdue.sid], status[later.sid], status[settled.sid]) == ("failed", "queued", "sent")
    assert outbox.swept == 1


async def test_the_outbox_finds_commands_by_index_after_the_table_grew(database_url: str) -> None:
    """The outbox keeps its own connections (on PostgreSQL one AUTOCOMMIT, the batch one self-committing
    statement) from a fresh, empty ip_commands on: after the table has grown, no batch reads it through (outcomes
    are joined to their rows by the primary key). The accounting writer's batches did, under a generic plan made
    while their table was small (driver_sql.plan_every_statement); the outbox's statements keep generic plans."""
    postgres = database_url.startswith("postgresql")
    engine = make_engine(database_url)
    ctx = PlatformContext(sessions=make_sessionmaker(engine), engine=engine)
    world = await World(ctx.sessions).setup([FRANCE])
    sim = await world.sim()
    outbox = IpCommandOutbox(ctx, None, sweep_interval=60, settle_linger=0.0)

    async def one_batch() -> None:
        await outbox.submit(world.account_sid, command(sim.sid))
        await asyncio.sleep(0.01)  # its outcome rides with the next batch (or goes alone)

    await outbox.start()
    try:
        for _ in range(8):  # more than the 5 runs after which PostgreSQL may switch to a generic plan
            await one_batch()
        async with engine.begin() as connection:  # 20,000 settled commands, not analyzed
            await connection.exec_driver_sql(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000) "
                "INSERT INTO ip_commands (sid, account_sid, sim_sid, sim_iccid, status, direction, device_port, "
                "payload_type, payload, date_created, date_updated) SELECT 'HC' || (100000000000 + i), account_sid, "
                "sim_sid, sim_iccid, 'sent', 'to_sim', 1, 'text', 'x', date_created, date_updated "
                "FROM (SELECT * FROM ip_commands LIMIT 1) AS c, n"
            )
        for _ in range(8):
            await one_batch()
    finally:
        await outbox.stop()
    await engine.dispose()  # the backends exit and report their statistics
    engine = make_engine(database_url)
    read = 0
    try:
        for _ in range(100 if postgres else 0):  # SQLite plans every statement as it runs
            async with engine.connect() as connection:
                others = await connection.exec_driver_sql(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
                )
                if not others.scalar():
                    read = await _seq_tuples_read(connection)
                    break
            await asyncio.sleep(0.05)
        else:
            assert not postgres, "the outbox's connections did not go away"
        async with engine.connect() as connection:
            mine = f"sim_sid = '{sim.sid}' AND payload = 'hello'"
            query = f"SELECT status, count(*) FROM ip_commands WHERE {mine} GROUP BY status"
            found = await connection.exec_driver_sql(query)
            statuses = found.all()
    finally:
        await engine.dispose()
    assert read < 20_000, f"batches after the growth read {read} rows of ip_commands by sequential scan"
    assert statuses == [("failed", 16)]  # every batch written and settled (no gateway here: 83400)


async def _seq_tuples_read(connection: Any) -> int:
    result = await connection.exec_driver_sql(
        "SELECT coalesce(seq_tup_read, 0) FROM pg_stat_user_tables WHERE relname = 'ip_commands'"
    )
    return int(result.scalar() or 0)
