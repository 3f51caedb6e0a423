"""Fleets through the official twilio SDK: defaults, every field, filters, paging, unique names, errors, SIMs."""

from __future__ import annotations

from typing import Any

import pytest
from twilio.base.exceptions import TwilioRestException

from tests.conftest import Account


def test_create_with_defaults_and_fetch_by_unique_name(account: Account) -> None:
    client = account.client()
    profile = client.supersim.v1.network_access_profiles.create(unique_name="nap")
    fleet = client.supersim.v1.fleets.create(network_access_profile="nap", unique_name="pilot")
    assert fleet.sid.startswith("HF") and len(fleet.sid) == 34
    assert fleet.account_sid == account.sid
    assert fleet.unique_name == "pilot"
    assert fleet.network_access_profile_sid == profile.sid
    assert fleet.data_enabled is True and fleet.data_limit == 1000 and fleet.data_metering == "payg"
    assert fleet.sms_commands_enabled is True
    assert fleet.sms_commands_url is None and fleet.sms_commands_method == "POST"
    assert fleet.ip_commands_url is None and fleet.ip_commands_method == "POST"
    assert fleet.url == f"{account.server.base_url}/supersim/v1/Fleets/{fleet.sid}"
    assert fleet.date_created is not None and fleet.date_updated is not None
    assert client.supersim.v1.fleets("pilot").fetch().sid == fleet.sid
    assert client.supersim.v1.fleets(fleet.sid).fetch().unique_name == "pilot"


def test_create_with_every_field(account: Account) -> None:
    client = account.client()
    profile = client.supersim.v1.network_access_profiles.create(networks=["310-260"])
    fleet = client.supersim.v1.fleets.create(
        network_access_profile=profile.sid,
        unique_name="trackers",
        data_enabled=False,
        data_limit=2_000_000,
        ip_commands_url="https://example.com/ip",
        ip_commands_method="get",
        sms_commands_enabled=False,
        sms_commands_url="http://example.com/sms",
        sms_commands_method="GET",
    )
    assert fleet.data_enabled is False and fleet.data_limit == 2_000_000 and fleet.data_metering == "payg"
    assert fleet.ip_commands_url == "https://example.com/ip" and fleet.ip_commands_method == "GET"
    assert fleet.sms_commands_enabled is False
    assert fleet.sms_commands_url == "http://example.com/sms" and fleet.sms_commands_method == "GET"
    with account.http() as http:
        body: dict[str, Any] = http.get(f"/supersim/v1/Fleets/{fleet.sid}").json()
    assert set(body) == {
        "account_sid",
        "sid",
        "unique_name",
        "date_created",
        "date_updated",
        "url",
        "data_enabled",
        "data_limit",
        "data_metering",
        "sms_commands_enabled",
        "sms_commands_url",
        "sms_commands_method",
        "network_access_profile_sid",
        "ip_commands_url",
        "ip_commands_method",
    }
    assert body["date_created"].endswith("Z")


def test_update_every_field(account: Account) -> None:
    client = account.client()
    first = client.supersim.v1.network_access_profiles.create(unique_name="first")
    second = client.supersim.v1.network_access_profiles.create(unique_name="second")
    fleet = client.supersim.v1.fleets.create(network_access_profile=first.sid, ip_commands_url="https://a.example/ip")
    updated = client.supersim.v1.fleets(fleet.sid).update(
        unique_name="renamed",
        network_access_profile="second",
        ip_commands_url="https://b.example/ip",
        ip_commands_method="GET",
        sms_commands_url="https://b.example/sms",
        sms_commands_method="GET",
        data_limit=1,
    )
    assert updated.unique_name == "renamed" and updated.network_access_profile_sid == second.sid
    assert updated.ip_commands_url == "https://b.example/ip" and updated.ip_commands_method == "GET"
    assert updated.sms_commands_url == "https://b.example/sms" and updated.sms_commands_method == "GET"
    assert updated.data_limit == 1
    assert updated.data_enabled is True and updated.sms_commands_enabled is True  # untouched

    with account.http() as http:
        response = http.post(
            "/supersim/v1/Fleets/renamed",
            data={"DataEnabled": "false", "SmsCommandsEnabled": "false", "IpCommandsUrl": ""},
        )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["data_enabled"] is False and body["sms_commands_enabled"] is False
    assert body["ip_commands_url"] is None and body["ip_commands_method"] == "GET"
    fetched = client.supersim.v1.fleets("renamed").fetch()
    assert (
        fetched.data_enabled is False and fetched.data_limit == 1 and fetched.network_access_profile_sid == second.sid
    )


def test_list_filters_by_profile_and_pages(account: Account) -> None:
    client = account.client()
    first = client.supersim.v1.network_access_profiles.create(unique_name="first")
    second = client.supersim.v1.network_access_profiles.create()
    in_first = [client.supersim.v1.fleets.create(network_access_profile=first.sid) for _ in range(3)]
    in_second = [client.supersim.v1.fleets.create(network_access_profile=second.sid) for _ in range(2)]
    everything = [f.sid for f in (*in_first, *in_second)]
    assert [f.sid for f in client.supersim.v1.fleets.list(page_size=2)] == everything
    page = client.supersim.v1.fleets.page(page_size=2)
    assert [len(list(p)) for p in (page, page.next_page(), page.next_page().next_page())] == [2, 2, 1]
    assert [f.sid for f in client.supersim.v1.fleets.list(network_access_profile=first.sid)] == [
        f.sid for f in in_first
    ]
    assert [f.sid for f in client.supersim.v1.fleets.list(network_access_profile="first")] == [f.sid for f in in_first]
    assert [f.sid for f in client.supersim.v1.fleets.list(network_access_profile=second.sid)] == [
        f.sid for f in in_second
    ]
    assert client.supersim.v1.fleets.list(network_access_profile="HA" + "0" * 32) == []


def expect_error(call: Any, status: int, parameter: str) -> TwilioRestException:
    with pytest.raises(TwilioRestException) as raised:
        call()
    assert raised.value.status == status, raised.value.msg
    assert parameter in raised.value.msg
    return raised.value


def test_bad_input_names_the_parameter(account: Account) -> None:
    client = account.client()
    fleets = client.supersim.v1.fleets
    profile = client.supersim.v1.network_access_profiles.create().sid
    expect_error(lambda: fleets.create(network_access_profile="HA" + "0" * 32), 400, "NetworkAccessProfile")
    expect_error(lambda: fleets.create(network_access_profile="no-such-profile"), 400, "NetworkAccessProfile")
    for limit in (0, -5, 2_000_001):
        expect_error(
            lambda limit=limit: fleets.create(network_access_profile=profile, data_limit=limit), 400, "DataLimit"
        )
    expect_error(
        lambda: fleets.create(network_access_profile=profile, ip_commands_method="TRACE"), 400, "IpCommandsMethod"
    )
    expect_error(
        lambda: fleets.create(network_access_profile=profile, sms_commands_method="X"), 400, "SmsCommandsMethod"
    )
    expect_error(lambda: fleets.create(network_access_profile=profile, ip_commands_url="ftp://x"), 400, "IpCommandsUrl")
    with account.http() as http:
        missing = http.post("/supersim/v1/Fleets", data={"UniqueName": "x"})
        assert missing.status_code == 400 and "NetworkAccessProfile" in missing.json()["message"]
        not_a_number = http.post("/supersim/v1/Fleets", data={"NetworkAccessProfile": profile, "DataLimit": "lots"})
        assert not_a_number.status_code == 400 and "DataLimit" in not_a_number.json()["message"]
        not_a_bool = http.post("/supersim/v1/Fleets", data={"NetworkAccessProfile": profile, "DataEnabled": "yes"})
        assert not_a_bool.status_code == 400 and "DataEnabled" in not_a_bool.json()["message"]
    assert fleets.list() == []  # nothing half-written

    fleet = fleets.create(network_access_profile=profile, unique_name="taken")
    fleets.create(network_access_profile=profile, unique_name="other")
    clash = expect_error(lambda: fleets.create(network_access_profile=profile, unique_name="taken"), 409, "UniqueName")
    assert 400 <= clash.status < 500
    expect_error(lambda: fleets("other").update(unique_name="taken"), 409, "UniqueName")
    expect_error(lambda: fleets.create(network_access_profile=profile, unique_name="HF" + "2" * 32), 400, "UniqueName")
    expect_error(lambda: fleets(fleet.sid).update(data_limit=0), 400, "DataLimit")
    expect_error(lambda: fleets(fleet.sid).update(network_access_profile="nope"), 400, "NetworkAccessProfile")
    expect_error(lambda: fleets(fleet.sid).update(sms_commands_method="OPTIONS"), 400, "SmsCommandsMethod")
    unchanged = fleets(fleet.sid).fetch()
    assert unchanged.unique_name == "taken" and unchanged.data_limit == 1000
    assert unchanged.network_access_profile_sid == profile
    assert fleets(fleet.sid).update(unique_name="taken").unique_name == "taken"  # keeping one's own name is fine


def test_other_accounts_cannot_see_or_use_a_fleet(account: Account, server) -> None:  # type: ignore[no-untyped-def]
    client = account.client()
    profile = client.supersim.v1.network_access_profiles.create(unique_name="mine")
    fleet = client.supersim.v1.fleets.create(network_access_profile=profile.sid, unique_name="mine")
    stranger = server.admin("create-account")
    stranger_client = Account(stranger["account_sid"], stranger["auth_token"], server).client()
    for key in (fleet.sid, "mine"):
        with pytest.raises(TwilioRestException) as hidden:
            stranger_client.supersim.v1.fleets(key).fetch()
        assert hidden.value.status == 404 and hidden.value.code == 20404
    with pytest.raises(TwilioRestException) as hidden_update:
        stranger_client.supersim.v1.fleets(fleet.sid).update(data_limit=5)
    assert hidden_update.value.status == 404
    assert stranger_client.supersim.v1.fleets.list() == []
    with pytest.raises(TwilioRestException) as foreign_profile:
        stranger_client.supersim.v1.fleets.create(network_access_profile=profile.sid)
    assert foreign_profile.value.status == 400 and "NetworkAccessProfile" in foreign_profile.value.msg
    # Unique names are per account: the stranger may use the same ones.
    stranger_profile = stranger_client.supersim.v1.network_access_profiles.create(unique_name="mine")
    assert stranger_client.supersim.v1.fleets.create(network_access_profile="mine", unique_name="mine").sid != fleet.sid
    assert stranger_profile.sid != profile.sid
    assert client.supersim.v1.fleets(fleet.sid).fetch().data_limit == 1000


def test_a_fleet_is_assigned_to_a_sim(account: Account) -> None:
    client = account.client()
    [sim] = account.claim(1)
    profile = client.supersim.v1.network_access_profiles.create(networks=["310-260"])
    fleet = client.supersim.v1.fleets.create(network_access_profile=profile.sid, unique_name="field")
    assert client.supersim.v1.sims(sim.sid).update(fleet="field").fleet_sid == fleet.sid
    assert [s.sid for s in client.supersim.v1.sims.list(fleet=fleet.sid)] == [sim.sid]
    assert client.supersim.v1.sims(sim.sid).fetch().fleet_sid == fleet.sid
