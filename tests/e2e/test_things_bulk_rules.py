"""The bulk path and the single-Thing PATCH agree on every rule (issue 18: "each item goes through the same service
code as the single-Thing operation"). Two identical sets of Things, one in each state (PROVISIONED, ACTIVE,
SUSPENDED, RETIRED, a state change in flight, and one with the most tags a Thing may have), take the same change:
one set by a PATCH per Thing, the other by one bulk action. Each item's outcome and reason equal the PATCH's, and the
two sets end in the same states and tags."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import insert, update
from sqlalchemy.ext.asyncio import AsyncSession

from cellplane.domain.things_bulk import MAX_TAGS
from cellplane.store.models import Sim, ThingTag
from tests.conftest import Account
from tests.e2e.test_things_api import http, things_of
from tests.e2e.test_things_bulk import finished
from tests.support import db as database

# Each Thing's stored status and pending status (planted: the rules read nothing else of it).
PLANTED = {
    "provisioned": ("new", None),
    "active": ("active", None),
    "suspended": ("inactive", None),
    "retired": ("canceled", None),
    "in-flight": ("scheduled", "active"),
    "full-tags": ("active", None),
}
FULL_TAGS = [f"t{n}" for n in range(MAX_TAGS)]

# Each bulk action with its parameters, and the PATCH body that asks the same of one Thing.
ACTIONS: dict[str, tuple[dict[str, Any] | None, Any]] = {
    "activate": (None, lambda tags: {"state": "ACTIVE"}),
    "suspend": (None, lambda tags: {"state": "SUSPENDED"}),
    "retire": (None, lambda tags: {"state": "RETIRED"}),
    "addTags": ({"tags": ["extra"]}, lambda tags: {"tags": [*tags, "extra"]}),
    "setServices": ({"services": {"sms": False}}, lambda tags: {"services": {"sms": False}}),
}


def plant(account: Account, things: list[str]) -> None:
    """Give the Things their PLANTED states in order (setup, not under test), and the last one its MAX_TAGS tags."""

    async def work(session: AsyncSession) -> None:
        for sid, (status, pending) in zip(things, PLANTED.values(), strict=True):
            await session.execute(update(Sim).where(Sim.sid == sid).values(status=status, pending_status=pending))
        rows = [{"thing_sid": things[-1], "tag": tag, "account_sid": account.sid} for tag in FULL_TAGS]
        await session.execute(insert(ThingTag), rows)

    database.run(account.server, work)


@pytest.mark.parametrize("action", list(ACTIONS))
def test_a_bulk_action_decides_each_item_as_a_single_patch_does(account: Account, action: str) -> None:
    sids = [thing["sid"] for thing in things_of(account, 2 * len(PLANTED))]
    singles, bulked = sids[: len(PLANTED)], sids[len(PLANTED) :]
    plant(account, singles)
    plant(account, bulked)
    parameters, patch_body = ACTIONS[action]
    with http(account) as client:
        expected = []
        for sid in singles:
            tags = client.get(f"/things/{sid}").json()["tags"]
            answer = client.patch(f"/things/{sid}", json=patch_body(tags))
            assert answer.status_code in (200, 202, 400), answer.text
            expected.append(("succeeded", None) if answer.status_code < 300 else ("failed", answer.json()["message"]))
        posted = client.post(
            "/bulkActions", json={"action": action, "parameters": parameters, "selection": {"thingIds": bulked}}
        )
        assert posted.status_code == 202, posted.text
        bulk = finished(client, f"/bulkActions/{posted.json()['id']}")
        items = client.get(f"/bulkActions/{bulk['id']}/items").json()["items"]
        got = [(item["outcome"], item["error"]) for item in items]
        assert [item["thingId"] for item in items] == bulked
        assert got == expected, dict(zip(PLANTED, zip(expected, got, strict=True), strict=True))
        assert any(outcome == "failed" for outcome, _ in expected) or action == "setServices"
        assert (bulk["succeeded"], bulk["failed"]) == (
            sum(outcome == "succeeded" for outcome, _ in expected),
            sum(outcome == "failed" for outcome, _ in expected),
        )

        def shown(sid: str) -> tuple[str, list[str], dict[str, bool]]:
            thing = client.get(f"/things/{sid}").json()
            return thing["state"], thing["tags"], thing["services"]

        assert [shown(sid) for sid in bulked] == [shown(sid) for sid in singles]
