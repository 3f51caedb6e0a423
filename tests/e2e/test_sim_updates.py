"""Asynchronous SIM updates: scheduled status, signed callbacks, fleets kept until completion, account moves."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from twilio.base.exceptions import TwilioRestException

from tests.conftest import Account
from tests.e2e.test_sims import wait_for_status
from tests.support.webhooks import WebhookReceiver


@pytest.fixture
def receiver(account: Account) -> Iterator[WebhookReceiver]:
    hook = WebhookReceiver(auth_token=account.token).start()
    yield hook
    hook.stop()


def test_callback_is_signed_and_carries_the_seed_parameters(account: Account, receiver: WebhookReceiver) -> None:
    client = account.client()
    [sim] = account.claim(1)
    client.supersim.v1.sims(sim.sid).update(unique_name="meter-7")
    accepted = client.supersim.v1.sims(sim.sid).update(status="ready", callback_url=f"{receiver.url}/sim-updated")
    assert accepted.status == "scheduled"
    [hook] = receiver.wait_for(lambda got: len(got) >= 1)
    assert hook.method == "POST" and hook.path == "/sim-updated"
    assert hook.params == {
        "SimSid": sim.sid,
        "SimUniqueName": "meter-7",
        "SimStatus": "ready",
        "AccountSid": account.sid,
    }
    assert hook.twilio_signature_valid and hook.kore_signature_valid
    assert hook.headers["kore-idempotency-token"]


def test_network_update_answers_202_scheduled_then_completes(account: Account) -> None:
    """The seed's asynchronous update, on the wire: 202 and `scheduled` (never the final status at once), then the
    status the update asked for; an update the network need not hear of answers 200 at once."""
    client = account.client()
    new_sim, ready_sim = account.claim(2)
    with account.http() as http:
        renamed = http.post(f"/supersim/v1/Sims/{new_sim.sid}", data={"UniqueName": "strict-1"})
        assert (renamed.status_code, renamed.json()["status"]) == (200, "new")

        to_ready = http.post(f"/supersim/v1/Sims/{ready_sim.sid}", data={"Status": "ready"})
        assert (to_ready.status_code, to_ready.json()["status"]) == (202, "scheduled"), to_ready.text
        wait_for_status(client, ready_sim.sid, "ready")

        for sim in (new_sim, ready_sim):
            activated = http.post(f"/supersim/v1/Sims/{sim.sid}", data={"Status": "active"})
            assert activated.status_code == 202, activated.text
            body = activated.json()
            assert (body["sid"], body["status"]) == (sim.sid, "scheduled")
            wait_for_status(client, sim.sid, "active")
        # Already active: asking for active again changes nothing and is not scheduled.
        again = http.post(f"/supersim/v1/Sims/{new_sim.sid}", data={"Status": "active"})
        assert (again.status_code, again.json()["status"]) == (200, "active")


def test_get_callback_sends_a_query_string(account: Account, receiver: WebhookReceiver) -> None:
    client = account.client()
    [sim] = account.claim(1)
    client.supersim.v1.sims(sim.sid).update(
        status="active", callback_url=f"{receiver.url}/hook?tenant=7", callback_method="GET"
    )
    [hook] = receiver.wait_for(lambda got: len(got) >= 1)
    assert hook.method == "GET"
    assert hook.params["tenant"] == "7" and hook.params["SimStatus"] == "active"
    assert hook.twilio_signature_valid


def test_callback_retried_until_the_receiver_accepts(account: Account) -> None:
    receiver = WebhookReceiver(auth_token=account.token, fail_first=2).start()
    try:
        client = account.client()
        [sim] = account.claim(1)
        client.supersim.v1.sims(sim.sid).update(status="active", callback_url=receiver.url)
        receiver.wait_for(lambda got: len(got) == 1)
        assert receiver.attempts == 3
    finally:
        receiver.stop()


def test_fleet_change_of_an_active_sim_completes_asynchronously(account: Account) -> None:
    client = account.client()
    [sim] = account.claim(1)
    nap = client.supersim.v1.network_access_profiles.create(unique_name="nap-a")
    first = client.supersim.v1.fleets.create(network_access_profile=nap.sid, unique_name="first")
    second = client.supersim.v1.fleets.create(network_access_profile=nap.sid, unique_name="second")
    assert client.supersim.v1.sims(sim.sid).update(fleet=first.sid).fleet_sid == first.sid
    client.supersim.v1.sims(sim.sid).update(status="active")
    wait_for_status(client, sim.sid, "active")
    moved = client.supersim.v1.sims(sim.sid).update(fleet="second")
    assert moved.fleet_sid in (first.sid, second.sid)
    assert wait_for_status(client, sim.sid, "active").fleet_sid == second.sid


def test_parent_moves_sims_between_its_subaccounts(account: Account) -> None:
    server = account.server
    child = server.admin("create-account", "--parent", account.sid)
    other = server.admin("create-account", "--parent", account.sid)
    stranger = server.admin("create-account")
    client = account.client()
    [sim] = account.claim(1)

    moved = client.supersim.v1.sims(sim.sid).update(account_sid=child["account_sid"])
    assert moved.account_sid == child["account_sid"]
    child_client = Account(child["account_sid"], child["auth_token"], server).client()
    assert [s.sid for s in child_client.supersim.v1.sims.list()] == [sim.sid]

    again = client.supersim.v1.sims(sim.sid).update(account_sid=other["account_sid"])
    assert again.account_sid == other["account_sid"]
    assert child_client.supersim.v1.sims.list() == []

    with pytest.raises(TwilioRestException) as refused:
        client.supersim.v1.sims(sim.sid).update(account_sid=stranger["account_sid"])
    assert refused.value.status == 403
    with pytest.raises(TwilioRestException) as by_child:
        Account(other["account_sid"], other["auth_token"], server).client().supersim.v1.sims(sim.sid).update(
            account_sid=account.sid
        )
    assert by_child.value.status == 403
    back = client.supersim.v1.sims(sim.sid).update(account_sid=account.sid)
    assert back.account_sid == account.sid


def test_moving_a_sim_in_a_fleet_needs_a_fleet_of_the_new_account(account: Account) -> None:
    server = account.server
    child = server.admin("create-account", "--parent", account.sid)
    child_account = Account(child["account_sid"], child["auth_token"], server)
    client = account.client()
    [sim] = account.claim(1)
    nap = client.supersim.v1.network_access_profiles.create()
    fleet = client.supersim.v1.fleets.create(network_access_profile=nap.sid)
    client.supersim.v1.sims(sim.sid).update(fleet=fleet.sid)

    with pytest.raises(TwilioRestException) as missing:
        client.supersim.v1.sims(sim.sid).update(account_sid=child_account.sid)
    assert missing.value.status == 400 and "Fleet" in missing.value.msg
    with pytest.raises(TwilioRestException) as foreign_fleet:
        client.supersim.v1.sims(sim.sid).update(account_sid=child_account.sid, fleet=fleet.sid)
    assert foreign_fleet.value.status == 400 and "Fleet" in foreign_fleet.value.msg
    assert client.supersim.v1.sims(sim.sid).fetch().account_sid == account.sid  # nothing half-written

    child_nap = child_account.client().supersim.v1.network_access_profiles.create()
    child_fleet = child_account.client().supersim.v1.fleets.create(network_access_profile=child_nap.sid)
    moved = client.supersim.v1.sims(sim.sid).update(account_sid=child_account.sid, fleet=child_fleet.sid)
    assert moved.account_sid == child_account.sid and moved.fleet_sid == child_fleet.sid


def test_moving_a_sim_in_a_fleet_with_an_empty_fleet_leaves_it_fleetless(account: Account) -> None:
    """`Fleet` empty (the spec's null) is the other way to move a SIM that is in a fleet: it arrives fleetless, and
    the account it left no longer sees it."""
    server = account.server
    first, second = (
        Account(created["account_sid"], created["auth_token"], server)
        for created in (server.admin("create-account", "--parent", account.sid) for _ in range(2))
    )
    parent = account.client()
    [sim] = account.claim(1)
    parent.supersim.v1.sims(sim.sid).update(account_sid=first.sid)
    first_nap = first.client().supersim.v1.network_access_profiles.create()
    first_fleet = first.client().supersim.v1.fleets.create(network_access_profile=first_nap.sid)
    first.client().supersim.v1.sims(sim.sid).update(fleet=first_fleet.sid, status="active")
    wait_for_status(first.client(), sim.sid, "active")
    assert first.client().supersim.v1.sims(sim.sid).fetch().fleet_sid == first_fleet.sid

    with account.http() as http:
        moved = http.post(f"/supersim/v1/Sims/{sim.sid}", data={"AccountSid": second.sid, "Fleet": ""})
    # An active SIM leaving its fleet must reach the network: scheduled, the old fleet shown until it completes.
    assert moved.status_code == 202, moved.text
    assert (moved.json()["account_sid"], moved.json()["status"]) == (second.sid, "scheduled")
    done = wait_for_status(second.client(), sim.sid, "active")
    assert (done.account_sid, done.fleet_sid) == (second.sid, None)

    old = first.client()
    with pytest.raises(TwilioRestException) as gone:
        old.supersim.v1.sims(sim.sid).fetch()
    assert gone.value.status == 404 and gone.value.code == 20404
    assert old.supersim.v1.sims.list() == []
    assert old.supersim.v1.sims.list(fleet=first_fleet.sid) == []
    assert [s.sid for s in second.client().supersim.v1.sims.list()] == [sim.sid]
