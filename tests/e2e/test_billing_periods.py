"""Billing periods through the SDK: ready and active periods, reuse on reactivation, months filled in lazily.

A month cannot pass in a test, so the months-later cases move a SIM's periods back in time in the
server's own database (the state a long-running install would have) and then ask the API.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from cellplane.domain.billing import add_months
from cellplane.services import billing
from cellplane.store.db import make_engine, make_sessionmaker
from cellplane.store.models import BillingPeriod, Sim
from tests.conftest import Account
from tests.e2e.test_sims import wait_for_status
from tests.support.server import Server

T = TypeVar("T")
FIELDS = {"sid", "account_sid", "sim_sid", "start_time", "end_time", "period_type", "date_created", "date_updated"}


def in_database(server: Server, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run `work` in one committed transaction on the server's own database."""
    sqlite = f"sqlite+aiosqlite:///{server.data_dir.resolve() / 'cellplane.db'}"
    url = server.env.get("CELLPLANE_DATABASE_URL") or sqlite

    async def main() -> T:
        engine = make_engine(url)
        try:
            async with make_sessionmaker(engine)() as session, session.begin():
                return await work(session)
        finally:
            await engine.dispose()

    return asyncio.run(main())


def parse(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def periods(account: Account, sim_sid: str) -> list[dict[str, Any]]:
    with account.http() as http:
        response = http.get(f"/supersim/v1/Sims/{sim_sid}/BillingPeriods", params={"PageSize": 1000})
    assert response.status_code == 200, response.text
    return list(response.json()["billing_periods"])


def activate(account: Account, sim_sid: str, status: str) -> None:
    client = account.client()
    client.supersim.v1.sims(sim_sid).update(status=status)
    wait_for_status(client, sim_sid, status)


def move_periods(server: Server, sim_sid: str, spans: list[tuple[datetime, datetime]]) -> None:
    """Rewrite the SIM's periods (oldest first) to the given spans, as if they had been opened then."""

    async def work(session: AsyncSession) -> None:
        query = select(BillingPeriod).where(BillingPeriod.sim_sid == sim_sid).order_by(BillingPeriod.sid)
        rows = (await session.execute(query)).scalars().all()
        assert len(rows) == len(spans)
        for row, (start, end) in zip(rows, spans, strict=True):
            row.start_time, row.end_time = start, end
        await session.execute(update(Sim).where(Sim.sid == sim_sid).values(date_activated=spans[0][0]))

    in_database(server, work)


def test_ready_then_active_closes_the_ready_period(account: Account) -> None:
    client = account.client()
    [sim] = account.claim(1)
    assert periods(account, sim.sid) == []
    before = datetime.now(UTC).replace(microsecond=0)

    activate(account, sim.sid, "ready")
    [ready] = periods(account, sim.sid)
    assert set(ready) == FIELDS
    assert ready["sid"].startswith("HB") and len(ready["sid"]) == 34
    assert (ready["account_sid"], ready["sim_sid"], ready["period_type"]) == (account.sid, sim.sid, "ready")
    start = parse(ready["start_time"])
    assert before - timedelta(seconds=1) <= start <= datetime.now(UTC)
    assert parse(ready["end_time"]) == add_months(start, 3)

    activate(account, sim.sid, "active")
    listed = client.supersim.v1.sims(sim.sid).billing_periods.list()
    assert [p.period_type for p in listed] == ["ready", "active"]
    closed, active = listed
    assert closed.sid == ready["sid"] and closed.start_time == start
    assert closed.end_time == active.start_time
    assert active.end_time == add_months(active.start_time, 1)
    assert active.start_time <= datetime.now(UTC) < active.end_time


def test_unknown_foreign_and_named_sims(account: Account, server: Server) -> None:
    client = account.client()
    [sim] = account.claim(1)
    client.supersim.v1.sims(sim.sid).update(unique_name="billing-meter")
    activate(account, sim.sid, "active")
    assert [p.period_type for p in client.supersim.v1.sims("billing-meter").billing_periods.list()] == ["active"]

    with account.http() as http:
        unknown = http.get(f"/supersim/v1/Sims/HS{'0' * 32}/BillingPeriods")
    assert unknown.status_code == 404 and unknown.json()["code"] == 20404
    other = server.admin("create-account")
    with Account(other["account_sid"], other["auth_token"], server).http() as stranger:
        foreign = stranger.get(f"/supersim/v1/Sims/{sim.sid}/BillingPeriods")
    assert foreign.status_code == 404 and foreign.json()["code"] == 20404
    with account.http() as http:
        bad_token = http.get(f"/supersim/v1/Sims/{sim.sid}/BillingPeriods", params={"PageToken": "PAbm9wZQ"})
    assert bad_token.status_code == 400 and bad_token.json()["code"] == 21481


def test_months_are_filled_in_up_to_now_without_drift(account: Account, server: Server) -> None:
    """Activated on Jan 31 2024: periods end Feb 29, Mar 31, Apr 30 ... and one covers today."""
    client = account.client()
    [sim] = account.claim(1)
    activate(account, sim.sid, "active")
    anchor = datetime(2024, 1, 31, 10, 0, 0, tzinfo=UTC)
    move_periods(server, sim.sid, [(anchor, add_months(anchor, 1))])

    listed = client.supersim.v1.sims(sim.sid).billing_periods.list(page_size=7)
    now = datetime.now(UTC)
    assert all(p.period_type == "active" for p in listed)
    assert [p.start_time for p in listed] == [add_months(anchor, i) for i in range(len(listed))]
    assert [p.end_time for p in listed] == [add_months(anchor, i + 1) for i in range(len(listed))]
    assert listed[1].end_time == datetime(2024, 3, 31, 10, 0, 0, tzinfo=UTC)
    assert listed[-1].start_time <= now < listed[-1].end_time
    # Asking again writes nothing new.
    assert [p.sid for p in client.supersim.v1.sims(sim.sid).billing_periods.list()] == [p.sid for p in listed]

    async def current(session: AsyncSession) -> str | None:
        found = await session.get(Sim, sim.sid)
        assert found is not None
        period = await billing.current_period(session, found, datetime.now(UTC))
        return period.sid if period else None

    assert in_database(server, current) == listed[-1].sid


def test_reactivation_reuses_a_running_period_and_not_an_expired_one(account: Account, server: Server) -> None:
    [soon, late] = account.claim(2)
    for sim in (soon, late):
        activate(account, sim.sid, "active")
        activate(account, sim.sid, "inactive")

    # Back within the period: the same period goes on (seed 004).
    activate(account, soon.sid, "active")
    assert len(periods(account, soon.sid)) == 1

    # Inactive for months: the expired period stays as it was and a new one starts at reactivation.
    old_start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=120)
    move_periods(server, late.sid, [(old_start, add_months(old_start, 1))])
    before = datetime.now(UTC).replace(microsecond=0)
    activate(account, late.sid, "active")
    first, second = periods(account, late.sid)
    assert parse(first["end_time"]) == add_months(old_start, 1)
    assert before <= parse(second["start_time"]) <= datetime.now(UTC)
    assert parse(second["end_time"]) == add_months(parse(second["start_time"]), 1)


def test_a_moved_sim_shows_no_periods_on_its_new_account(account: Account, server: Server) -> None:
    child = server.admin("create-account", "--parent", account.sid)
    child_client = Account(child["account_sid"], child["auth_token"], server).client()
    client = account.client()
    [sim] = account.claim(1)
    activate(account, sim.sid, "active")
    activate(account, sim.sid, "inactive")
    assert client.supersim.v1.sims(sim.sid).update(account_sid=child["account_sid"]).account_sid == child["account_sid"]
    assert child_client.supersim.v1.sims(sim.sid).billing_periods.list() == []
