"""eSIM profiles through the SDK: order, reservation from the inventory, activation codes, callbacks, lists."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from twilio.base.exceptions import TwilioRestException

from cellplane.store.models import Sim
from tests.conftest import Account
from tests.e2e.test_billing_periods import in_database
from tests.support.webhooks import WebhookReceiver

FIELDS = {
    "sid",
    "account_sid",
    "iccid",
    "sim_sid",
    "status",
    "eid",
    "smdp_plus_address",
    "matching_id",
    "activation_code",
    "error_code",
    "error_message",
    "date_created",
    "date_updated",
    "url",
}


def make_eid(body: str) -> str:
    """30 digits + ISO/IEC 7064 MOD 97-10 check digits, as GSMA SGP.29 builds an EID."""
    return f"{body}{98 - int(body + '00') % 97:02d}"


EID = make_eid("890490320050088826000334890001")


def wait_for_profile(client: Any, sid: str, statuses: tuple[str, ...] = ("available", "failed")) -> Any:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        profile = client.supersim.v1.esim_profiles(sid).fetch()
        if profile.status in statuses:
            return profile
        time.sleep(0.05)
    raise AssertionError(f"eSIM profile {sid} stayed {profile.status}")


@pytest.fixture
def receiver(account: Account) -> Iterator[WebhookReceiver]:
    hook = WebhookReceiver(auth_token=account.token).start()
    yield hook
    hook.stop()


def test_order_with_eid_reserves_an_inventory_sim(account: Account) -> None:
    account.inventory(1, "esim")
    client = account.client()
    with account.http() as http:
        created = http.post("/supersim/v1/ESimProfiles", data={"Eid": EID})
    assert created.status_code == 201, created.text
    body = created.json()
    assert set(body) == FIELDS
    assert body["sid"].startswith("HP") and len(body["sid"]) == 34
    assert (body["status"], body["eid"], body["account_sid"]) == ("new", EID, account.sid)
    assert body["sim_sid"] is None and body["smdp_plus_address"] is None
    assert body["url"] == f"{account.server.base_url}/supersim/v1/ESimProfiles/{body['sid']}"

    profile = wait_for_profile(client, body["sid"])
    assert profile.status == "available"
    assert profile.smdp_plus_address == "https://smdp.cellplane.local"
    assert profile.matching_id is None and profile.activation_code is None
    sim = client.supersim.v1.sims(profile.sim_sid).fetch()
    assert (sim.account_sid, sim.iccid, sim.status) == (account.sid, profile.iccid, "new")


def test_generated_matching_id_makes_an_activation_code(account: Account) -> None:
    account.inventory(2, "esim")
    client = account.client()
    ordered = client.supersim.v1.esim_profiles.create(generate_matching_id=True)
    assert ordered.status == "new" and ordered.eid is None
    profile = wait_for_profile(client, ordered.sid)
    assert profile.status == "available"
    assert re.fullmatch(r"[A-Z0-9]{5}(-[A-Z0-9]{5}){4}", profile.matching_id)
    assert profile.activation_code == f"LPA:1$smdp.cellplane.local${profile.matching_id}"

    # No EID at all: a Matching ID is the only way to claim it, so one is made too.
    bare = wait_for_profile(client, client.supersim.v1.esim_profiles.create().sid)
    assert bare.matching_id and bare.activation_code.endswith(bare.matching_id)
    assert bare.sim_sid != profile.sim_sid


BAD_ORDERS = [
    ({"Eid": "8904903200500888260003348900"}, "Eid"),
    ({"Eid": "89049032005008882600033489aaaaaa"}, "Eid"),
    ({"Eid": EID[:-1] + str((int(EID[-1]) + 1) % 10)}, "check digits"),
    ({"GenerateMatchingId": "false"}, "Eid"),
    ({"GenerateMatchingId": "maybe", "Eid": EID}, "GenerateMatchingId"),
    ({"Eid": EID, "CallbackUrl": "ftp://example.com/x"}, "CallbackUrl"),
    ({"Eid": EID, "CallbackMethod": "TRACE"}, "CallbackMethod"),
]


def test_bad_orders_are_refused_and_write_nothing(account: Account) -> None:
    with account.http() as http:
        for params, needle in BAD_ORDERS:
            response = http.post("/supersim/v1/ESimProfiles", data=params)
            assert response.status_code == 400, (params, response.text)
            assert response.json()["code"] == 20001 and needle in response.json()["message"], params
        assert http.get("/supersim/v1/ESimProfiles").json()["esim_profiles"] == []


def test_callbacks_on_each_status_change(account: Account, receiver: WebhookReceiver) -> None:
    account.inventory(1, "esim")
    client = account.client()
    ordered = client.supersim.v1.esim_profiles.create(eid=EID, callback_url=f"{receiver.url}/esim")
    hooks = receiver.wait_for(lambda got: len(got) >= 2)
    assert [h.params["Status"] for h in hooks] == ["reserving", "available"]
    available = hooks[1]
    assert available.method == "POST" and available.path == "/esim"
    assert available.twilio_signature_valid and available.kore_signature_valid
    profile = client.supersim.v1.esim_profiles(ordered.sid).fetch()
    assert available.params["EsimProfileSid"] == ordered.sid
    assert available.params["AccountSid"] == account.sid
    assert (available.params["SimSid"], available.params["Iccid"]) == (profile.sim_sid, profile.iccid)
    assert available.params["Eid"] == EID


def test_list_filters_and_visibility(account: Account, server: Any) -> None:
    account.inventory(3, "esim")
    client = account.client()
    other_eid = make_eid("890490320050088826000334890002")
    first = wait_for_profile(client, client.supersim.v1.esim_profiles.create(eid=EID).sid)
    second = wait_for_profile(client, client.supersim.v1.esim_profiles.create(eid=other_eid).sid)
    third = wait_for_profile(client, client.supersim.v1.esim_profiles.create(generate_matching_id=True).sid)

    assert [p.sid for p in client.supersim.v1.esim_profiles.list(page_size=2)] == [first.sid, second.sid, third.sid]
    assert [p.sid for p in client.supersim.v1.esim_profiles.list(eid=other_eid)] == [second.sid]
    assert [p.sid for p in client.supersim.v1.esim_profiles.list(sim_sid=third.sim_sid)] == [third.sid]
    assert len(client.supersim.v1.esim_profiles.list(status="available")) == 3
    assert client.supersim.v1.esim_profiles.list(status="downloaded") == []
    with account.http() as http:
        bad = http.get("/supersim/v1/ESimProfiles", params={"Status": "lost"})
    assert bad.status_code == 400 and "Status" in bad.json()["message"]

    stranger_keys = server.admin("create-account")
    stranger = Account(stranger_keys["account_sid"], stranger_keys["auth_token"], server).client()
    assert stranger.supersim.v1.esim_profiles.list() == []
    for key in (first.sid, "HP" + "0" * 32, "not-a-sid"):
        with pytest.raises(TwilioRestException) as hidden:
            stranger.supersim.v1.esim_profiles(key).fetch()
        assert hidden.value.status == 404 and hidden.value.code == 20404


def test_failed_when_the_inventory_is_empty(account: Account, receiver: WebhookReceiver) -> None:
    async def drain(session: AsyncSession) -> None:
        # Every free eSIM profile goes to this test's account, so none is left to reserve.
        await session.execute(
            update(Sim).where(Sim.account_sid.is_(None), Sim.product == "esim").values(account_sid=account.sid)
        )

    in_database(account.server, drain)
    client = account.client()
    ordered = client.supersim.v1.esim_profiles.create(eid=EID, callback_url=f"{receiver.url}/esim")
    profile = wait_for_profile(client, ordered.sid)
    assert profile.status == "failed"
    assert profile.error_code == "83901"  # our code for an empty eSIM pool (README, error codes)
    assert profile.error_message == "No Super SIM is available in the inventory to reserve this eSIM profile"
    hooks = receiver.wait_for(lambda got: len(got) >= 2)
    assert [(h.params["Status"], h.params.get("ErrorCode")) for h in hooks] == [
        ("reserving", None),
        ("failed", "83901"),
    ]
    assert profile.sim_sid is None and profile.iccid is None and profile.smdp_plus_address is None
    assert [p.sid for p in client.supersim.v1.esim_profiles.list(status="failed")] == [profile.sid]


def test_physical_cards_in_the_inventory_are_never_reserved(account: Account) -> None:
    [card] = account.inventory(1)
    client = account.client()
    in_database(account.server, _drain_esim_pool(account.sid))
    profile = wait_for_profile(client, client.supersim.v1.esim_profiles.create(eid=EID).sid)
    assert profile.status == "failed"
    claimed = client.supersim.v1.sims.create(iccid=card["iccid"], registration_code=card["registration_code"])
    assert claimed.status == "new"


def _drain_esim_pool(account_sid: str):  # type: ignore[no-untyped-def]
    async def drain(session: AsyncSession) -> None:
        await session.execute(
            update(Sim).where(Sim.account_sid.is_(None), Sim.product == "esim").values(account_sid=account_sid)
        )

    return drain
