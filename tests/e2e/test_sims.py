"""Sims through the official twilio SDK: claim, fetch, list with paging and filters, update, errors."""

from __future__ import annotations

import time

import pytest
from twilio.base.exceptions import TwilioRestException

from tests.conftest import Account


def wait_for_status(client, sid: str, status: str, timeout: float = 10.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sim = client.supersim.v1.sims(sid).fetch()
        if sim.status == status:
            return sim
        time.sleep(0.05)
    raise AssertionError(f"Sim {sid} never reached {status} (last: {sim.status})")


def test_claim_fetch_by_sid_and_unique_name(account: Account) -> None:
    client = account.client()
    [inventory_sim] = account.inventory(1)
    sim = client.supersim.v1.sims.create(
        iccid=inventory_sim["iccid"], registration_code=inventory_sim["registration_code"]
    )
    assert sim.sid.startswith("HS") and len(sim.sid) == 34
    assert sim.status == "new"
    assert sim.account_sid == account.sid
    assert sim.iccid == inventory_sim["iccid"]
    assert sim.url == f"{account.server.base_url}/supersim/v1/Sims/{sim.sid}"
    assert sim.links["billing_periods"].endswith(f"/Sims/{sim.sid}/BillingPeriods")

    renamed = client.supersim.v1.sims(sim.sid).update(unique_name="tracker-1")
    assert renamed.unique_name == "tracker-1"
    assert client.supersim.v1.sims("tracker-1").fetch().sid == sim.sid


def test_claim_errors(account: Account, server) -> None:  # type: ignore[no-untyped-def]
    client = account.client()
    [inventory_sim] = account.inventory(1)
    with pytest.raises(TwilioRestException) as wrong_code:
        client.supersim.v1.sims.create(iccid=inventory_sim["iccid"], registration_code="WRONG")
    assert wrong_code.value.code == 83002 and wrong_code.value.status == 400

    client.supersim.v1.sims.create(iccid=inventory_sim["iccid"], registration_code=inventory_sim["registration_code"])
    with pytest.raises(TwilioRestException) as again:
        client.supersim.v1.sims.create(
            iccid=inventory_sim["iccid"], registration_code=inventory_sim["registration_code"]
        )
    assert again.value.code == 83003

    other = server.admin("create-account")
    other_client = Account(other["account_sid"], other["auth_token"], server).client()
    with pytest.raises(TwilioRestException) as taken:
        other_client.supersim.v1.sims.create(
            iccid=inventory_sim["iccid"], registration_code=inventory_sim["registration_code"]
        )
    assert taken.value.code == 83002
    with pytest.raises(TwilioRestException) as hidden:
        other_client.supersim.v1.sims(client.supersim.v1.sims.list()[0].sid).fetch()
    assert hidden.value.status == 404 and hidden.value.code == 20404


def test_paging_through_several_pages(account: Account) -> None:
    claimed = account.claim(7)
    client = account.client()
    listed = client.supersim.v1.sims.list(page_size=2)
    assert [s.sid for s in listed] == sorted(s.sid for s in claimed)
    first = client.supersim.v1.sims.page(page_size=3)
    second = first.next_page()
    third = second.next_page()
    assert [len(list(p)) for p in (first, second, third)] == [3, 3, 1]
    assert third.next_page() is None
    by_iccid = client.supersim.v1.sims.list(iccid=claimed[4].iccid)
    assert [s.sid for s in by_iccid] == [claimed[4].sid]
    assert client.supersim.v1.sims.list(status="active") == []


def test_activation_is_scheduled_then_completes(account: Account) -> None:
    client = account.client()
    [sim] = account.claim(1)
    updated = client.supersim.v1.sims(sim.sid).update(status="active")
    assert updated.status == "scheduled"
    wait_for_status(client, sim.sid, "active")
    with pytest.raises(TwilioRestException) as back_to_ready:
        client.supersim.v1.sims(sim.sid).update(status="ready")
    assert back_to_ready.value.status == 400
    assert "ready" in back_to_ready.value.msg


def test_bad_credentials_are_401(account: Account) -> None:
    with account.http() as http:
        response = http.get("/supersim/v1/Sims", auth=(account.sid, "nope"))
    assert response.status_code == 401
    assert response.json()["code"] == 20003
