"""A bulk action over a tag selection of 1,000 Things survives kill -9 halfway: restarted, it resumes where it
stopped and every item is done exactly once. The test counts the state changes (each Thing in exactly one queued
`sim_update` job: an item done twice would queue it again, or fail on the change in flight; and exactly one recorded
state change per Thing once the jobs ran) and the webhooks (one at the end). Chunks of 25 Things (the default is
200) make 40 transactions of the action, so the kill lands between or inside them."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from cellplane.store.models import Job, ThingStateChange, ThingTag
from tests.conftest import Account
from tests.e2e.test_ip_commands_durability import own_server
from tests.e2e.test_things_api import http, things_of
from tests.e2e.test_things_bulk import finished
from tests.support import db as database
from tests.support.server import Server
from tests.support.webhooks import WebhookReceiver

COUNT = 1000


@pytest.fixture
def crashing_server(server: Server, tmp_path: Path) -> Iterator[Server]:
    # A short lease: the batch the crash interrupted is taken up again two seconds after the restart.
    with own_server(server.backend, tmp_path, CELLPLANE_JOB_LEASE_SECONDS="2", CELLPLANE_BULK_CHUNK="25") as instance:
        yield instance


def test_kill_9_halfway_through_a_bulk_action_does_every_item_exactly_once(crashing_server: Server) -> None:
    created = crashing_server.admin("create-account", "--friendly-name", "bulk-crash")
    account = Account(created["account_sid"], created["auth_token"], crashing_server)
    things = things_of(account, COUNT)
    receiver = WebhookReceiver(account.token).start()
    try:
        # The tags are planted (setup, not under test: tagging through the API is tested elsewhere).
        rows = [{"thing_sid": t["sid"], "tag": "wave-1", "account_sid": account.sid} for t in things]
        database.run(crashing_server, lambda session: session.execute(insert(ThingTag), rows))
        with http(account) as client:
            assert client.get("/tags").json()["items"] == [{"tag": "wave-1", "thingCount": COUNT}]
            client.put("/eventsCallback", json={"url": receiver.url + "/events"})
            posted = client.post("/bulkActions", json={"action": "activate", "selection": {"tag": "wave-1"}})
            assert posted.status_code == 202, posted.text
            location = posted.headers["Location"].removeprefix("/things/v1")
            while (progress := client.get(location).json())["succeeded"] < COUNT // 3:
                time.sleep(0.05)
        crashing_server.stop(kill=True)  # SIGKILL, mid-run
        assert progress["succeeded"] < COUNT, "the action ended before the crash: nothing was tested"
        crashing_server.start()
        with http(account) as client:
            bulk = finished(client, location, timeout=600)
            assert (bulk["status"], bulk["total"], bulk["succeeded"], bulk["failed"]) == ("completed", COUNT, COUNT, 0)
            failed = client.get(f"{location}/items", params={"outcome": "failed"}).json()["items"]
            assert failed == []

            # The filter counts a Thing on its way to ACTIVE (`statePending`): wait until the network applied all.
            deadline = time.monotonic() + 120
            active = {"state": "ACTIVE", "pageSize": COUNT}
            while sum(not t["statePending"] for t in client.get("/things", params=active).json()["items"]) < COUNT:
                assert time.monotonic() < deadline, "the state changes did not all complete"
                time.sleep(0.2)

        async def state_changes(session: AsyncSession) -> tuple[list[str], list[str]]:
            jobs = (await session.execute(select(Job.payload).where(Job.kind == "sim_update"))).scalars()
            queued = [str(sid) for payload in jobs for sid in payload.get("sim_sids", [payload.get("sim_sid")])]
            recorded = (await session.execute(select(ThingStateChange.sim_sid))).scalars()
            return queued, [str(sid) for sid in recorded]

        queued, recorded = database.run(crashing_server, state_changes)
        sids = sorted(t["sid"] for t in things)
        assert sorted(queued) == sids  # each Thing's change queued exactly once
        assert sorted(recorded) == sids  # and made exactly once
        hooks = receiver.wait_for(lambda got: len(got) >= 1)
        time.sleep(1.0)
        assert len(receiver.received) == 1 and hooks[0].params["succeeded"] == str(COUNT)
    finally:
        receiver.stop()
