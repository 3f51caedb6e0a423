"""Issue 18 on the real server: the account's events URL, tags (validation, counts, the `?tag=` filter), and bulk
actions (202 + Location, per-item outcomes through the single-Thing rules, cancel, the signed webhook at the end)."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import Account
from tests.e2e.test_ip_commands_durability import own_server
from tests.e2e.test_things_api import assert_refused, http, things_of
from tests.support.server import CLI, Server
from tests.support.webhooks import WebhookReceiver


@pytest.fixture
def receiver(account: Account) -> Iterator[WebhookReceiver]:
    hook = WebhookReceiver(account.token).start()
    yield hook
    hook.stop()


def finished(client: httpx.Client, location: str, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        bulk = client.get(location).json()
        if bulk["status"] in ("completed", "cancelled"):
            return bulk
        time.sleep(0.1)
    raise AssertionError(f"bulk action did not finish: {bulk}")


def test_events_callback_is_set_shown_checked_and_cleared(account: Account) -> None:
    with http(account) as client:
        assert client.get("/eventsCallback").json()["url"] is None
        put = client.put("/eventsCallback", json={"url": "https://example.com/events", "method": "get"})
        assert put.status_code == 200, put.text
        assert (put.json()["url"], put.json()["method"]) == ("https://example.com/events", "GET")
        assert client.get("/eventsCallback").json()["method"] == "GET"
        assert_refused(client.put("/eventsCallback", json={"url": "ftp://example.com/x"}), "url")
        assert_refused(client.put("/eventsCallback", json={"url": "https://example.com", "method": "PATCH"}), "method")
        assert_refused(client.put("/eventsCallback", json={"urls": "https://example.com"}), "urls")
        assert client.get("/eventsCallback").json()["url"] == "https://example.com/events"
        cleared = client.put("/eventsCallback", json={"url": None}).json()
        assert (cleared["url"], cleared["method"]) == (None, None)


def test_tags_are_validated_counted_and_filter_the_list(account: Account) -> None:
    things = things_of(account, 3)
    with http(account) as client:
        for thing, tags in zip(things, (["plant-a", "meter"], ["meter"], []), strict=True):
            response = client.patch(f"/things/{thing['sid']}", json={"tags": tags})
            assert response.status_code == 200 and response.json()["tags"] == sorted(tags), response.text
        assert client.get("/tags").json()["items"] == [
            {"tag": "meter", "thingCount": 2},
            {"tag": "plant-a", "thingCount": 1},
        ]
        meters = client.get("/things", params={"tag": "meter"}).json()["items"]
        assert sorted(item["id"] for item in meters) == sorted(t["sid"] for t in things[:2])
        target = f"/things/{things[2]['sid']}"
        assert_refused(client.patch(target, json={"tags": ["has space"]}), "tags[0]")
        assert_refused(client.patch(target, json={"tags": ["x" * 65]}), "tags[0]")
        assert_refused(client.patch(target, json={"tags": [f"t{n}" for n in range(21)]}), "tags")
        assert_refused(client.patch(target, json={"tags": "meter"}), "tags")
        assert_refused(client.get("/things", params={"tag": "bad tag"}), "tag")
        assert client.get(target).json()["tags"] == []


def test_bulk_activate_by_tag_fails_a_retired_thing_with_its_reason_and_announces_the_end(
    account: Account, receiver: WebhookReceiver
) -> None:
    things = things_of(account, 5)
    with http(account) as client:
        assert client.put("/eventsCallback", json={"url": receiver.url + "/events"}).status_code == 200
        for thing in things:
            client.patch(f"/things/{thing['sid']}", json={"tags": ["fleet-1"]})
        retired = things[0]["sid"]
        assert client.patch(f"/things/{retired}", json={"state": "RETIRED"}).status_code == 202
        deadline = time.monotonic() + 30  # the retirement completes first (in flight, a Thing is refused for that)
        while client.get(f"/things/{retired}").json()["state"] != "RETIRED":
            assert time.monotonic() < deadline, "the Thing was not retired"
            time.sleep(0.1)
        posted = client.post("/bulkActions", json={"action": "activate", "selection": {"tag": "fleet-1"}})
        assert posted.status_code == 202, posted.text
        location = posted.headers["Location"]
        assert location == f"/things/v1/bulkActions/{posted.json()['id']}"
        bulk = finished(client, location.removeprefix("/things/v1"))
        assert (bulk["total"], bulk["succeeded"], bulk["failed"], bulk["status"]) == (5, 4, 1, "completed")
        items = client.get(f"/bulkActions/{bulk['id']}/items").json()["items"]
        [failure] = [item for item in items if item["outcome"] == "failed"]
        assert failure["thingId"] == retired and "RETIRED" in failure["error"]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            states = {t["id"]: t["state"] for t in client.get("/things", params={"tag": "fleet-1"}).json()["items"]}
            if list(states.values()).count("ACTIVE") == 4:
                break
            time.sleep(0.1)
        assert states[retired] == "RETIRED" and list(states.values()).count("ACTIVE") == 4
    [hook] = receiver.wait_for(lambda got: len(got) >= 1)
    assert hook.twilio_signature_valid and hook.kore_signature_valid
    assert hook.params["eventType"] == "bulkActionFinished" and hook.params["bulkActionId"] == bulk["id"]
    assert (hook.params["succeeded"], hook.params["failed"], hook.params["status"]) == ("4", "1", "completed")
    with account.http() as plain:
        listed = plain.get("/cellplane/v1/WebhookDeliveries", params={"ResourceSid": bulk["id"]}).json()
    assert [d["status"] for d in listed["webhook_deliveries"]] == ["delivered"]


def test_bulk_tags_and_refusals_name_the_field(account: Account) -> None:
    things = things_of(account, 3)
    ids = [t["sid"] for t in things]
    with http(account) as client:
        posted = client.post(
            "/bulkActions",
            json={"action": "addTags", "parameters": {"tags": ["north"]}, "selection": {"thingIds": ids}},
        )
        assert posted.status_code == 202, posted.text
        assert finished(client, f"/bulkActions/{posted.json()['id']}")["succeeded"] == 3
        assert client.get("/tags").json()["items"] == [{"tag": "north", "thingCount": 3}]
        for payload, field in (
            ({"action": "explode", "selection": {"thingIds": ids}}, "action"),
            ({"action": "activate", "selection": {}}, "selection"),
            ({"action": "activate", "selection": {"thingIds": ["TH" + "0" * 32]}}, "selection.thingIds"),
            ({"action": "activate", "selection": {"tag": "no tag"}}, "selection.tag"),
            ({"action": "moveToGroup", "selection": {"thingIds": ids}}, "parameters.thingsGroupId"),
            ({"action": "addTags", "parameters": {"tags": []}, "selection": {"thingIds": ids}}, "parameters.tags"),
            ({"action": "activate", "parameters": {"x": 1}, "selection": {"thingIds": ids}}, "parameters.x"),
        ):
            assert_refused(client.post("/bulkActions", json=payload), field)
        assert len(client.get("/bulkActions").json()["items"]) == 1


@pytest.fixture
def small_chunks(server: Server, tmp_path: Path) -> Iterator[Server]:
    """A platform of its own whose bulk actions run 5 Things a transaction (1,000 on PostgreSQL and 200 on SQLite by
    default), so an action of a few hundred Things is still running when the next request arrives (at 25 a chunk,
    the quicker chunks once finished 400 Things before the cancel that followed the POST)."""
    with own_server(server.backend, tmp_path, CELLPLANE_BULK_CHUNK="5") as instance:
        yield instance


def test_a_bulk_action_can_be_cancelled(small_chunks: Server) -> None:
    created = small_chunks.admin("create-account", "--friendly-name", "bulk-cancel")
    account = Account(created["account_sid"], created["auth_token"], small_chunks)
    things = things_of(account, 400)
    with http(account) as client:
        group = client.get("/thingsGroups").json()["items"][0]["id"]
        posted = client.post("/bulkActions", json={"action": "activate", "selection": {"thingsGroupId": group}})
        sid = posted.json()["id"]
        cancelled = client.post(f"/bulkActions/{sid}/cancel")
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled", cancelled.text
        bulk = client.get(f"/bulkActions/{sid}").json()
        skipped = client.get(f"/bulkActions/{sid}/items", params={"outcome": "cancelled", "pageSize": 1000}).json()
        assert bulk["total"] == len(things) and bulk["succeeded"] + len(skipped["items"]) == len(things)
        assert len(skipped["items"]) > 0 and skipped["items"][0]["error"] == "The bulk action was cancelled"
        time.sleep(0.5)
        assert client.get(f"/bulkActions/{sid}").json()["succeeded"] == bulk["succeeded"]
        assert_refused(client.post(f"/bulkActions/{sid}/cancel"), "status")


def test_the_cli_starts_a_bulk_action_and_follows_it_to_the_end(account: Account) -> None:
    things = things_of(account, 3)
    ids = ",".join(t["sid"] for t in things)
    where = ["--account", account.sid, "--token", account.token, "--platform", account.server.base_url]
    result = subprocess.run(
        [*CLI, "things", "bulk", "addTags", "--ids", ids, "--parameters", '{"tags": ["cli"]}', *where],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    state = json.loads(result.stdout)
    assert (state["status"], state["succeeded"], state["failed"]) == ("completed", 3, 0)
    assert "3/3" in result.stderr  # the progress bar's last frame
    with http(account) as client:
        assert client.get("/tags").json()["items"] == [{"tag": "cli", "thingCount": 3}]
