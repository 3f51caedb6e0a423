"""Network access profiles and their Networks through the official twilio SDK: every operation, names, errors."""

from __future__ import annotations

import pytest
from twilio.base.exceptions import TwilioRestException

from cellplane.domain.networks import catalogue
from tests.conftest import Account


def sid_of(code: str) -> str:
    network = catalogue().lookup(code)
    assert network is not None, code
    return network.sid


def test_create_with_networks_by_sid_and_mcc_mnc(account: Account) -> None:
    client = account.client()
    tmobile, vodafone, telekom = sid_of("310-260"), sid_of("234-15"), sid_of("262-01")
    profile = client.supersim.v1.network_access_profiles.create(
        unique_name="roaming-eu-us", networks=[tmobile, "234-15", "26201", tmobile]
    )
    assert profile.sid.startswith("HA") and len(profile.sid) == 34
    assert profile.unique_name == "roaming-eu-us" and profile.account_sid == account.sid
    base = f"{account.server.base_url}/supersim/v1/NetworkAccessProfiles/{profile.sid}"
    assert profile.url == base
    assert profile.links == {"networks": f"{base}/Networks"}
    assert profile.date_created is not None and profile.date_updated is not None

    listed = client.supersim.v1.network_access_profiles(profile.sid).networks.list()
    assert [n.sid for n in listed] == sorted({tmobile, vodafone, telekom})
    by_sid = {n.sid: n for n in listed}
    assert by_sid[tmobile].friendly_name == "T-Mobile" and by_sid[tmobile].iso_country == "US"
    assert by_sid[tmobile].identifiers == [{"mcc": "310", "mnc": "260"}]
    assert by_sid[tmobile].network_access_profile_sid == profile.sid
    assert by_sid[tmobile].url == f"{base}/Networks/{tmobile}"


def test_fetch_list_and_rename_by_unique_name(account: Account) -> None:
    client = account.client()
    empty = client.supersim.v1.network_access_profiles.create()
    assert empty.unique_name is None
    assert client.supersim.v1.network_access_profiles(empty.sid).networks.list() == []
    named = client.supersim.v1.network_access_profiles.create(unique_name="first-name")
    assert client.supersim.v1.network_access_profiles("first-name").fetch().sid == named.sid

    renamed = client.supersim.v1.network_access_profiles("first-name").update(unique_name="second-name")
    assert renamed.sid == named.sid and renamed.unique_name == "second-name"
    assert client.supersim.v1.network_access_profiles(named.sid).fetch().unique_name == "second-name"
    with pytest.raises(TwilioRestException) as gone:
        client.supersim.v1.network_access_profiles("first-name").fetch()
    assert gone.value.status == 404

    more = [client.supersim.v1.network_access_profiles.create() for _ in range(3)]
    everything = [empty.sid, named.sid, *[p.sid for p in more]]
    assert [p.sid for p in client.supersim.v1.network_access_profiles.list(page_size=2)] == everything
    first = client.supersim.v1.network_access_profiles.page(page_size=2)
    assert [len(list(p)) for p in (first, first.next_page(), first.next_page().next_page())] == [2, 2, 1]


def test_unique_names_are_unique_per_account(account: Account, server) -> None:  # type: ignore[no-untyped-def]
    client = account.client()
    client.supersim.v1.network_access_profiles.create(unique_name="shared")
    with pytest.raises(TwilioRestException) as clash:
        client.supersim.v1.network_access_profiles.create(unique_name="shared")
    assert 400 <= clash.value.status < 500 and "UniqueName" in clash.value.msg
    other = client.supersim.v1.network_access_profiles.create(unique_name="other")
    with pytest.raises(TwilioRestException) as rename_clash:
        client.supersim.v1.network_access_profiles(other.sid).update(unique_name="shared")
    assert 400 <= rename_clash.value.status < 500 and "UniqueName" in rename_clash.value.msg
    with pytest.raises(TwilioRestException) as sid_like:
        client.supersim.v1.network_access_profiles.create(unique_name="HA" + "1" * 32)
    assert sid_like.value.status == 400 and "UniqueName" in sid_like.value.msg

    stranger = server.admin("create-account")
    stranger_client = Account(stranger["account_sid"], stranger["auth_token"], server).client()
    assert stranger_client.supersim.v1.network_access_profiles.create(unique_name="shared").unique_name == "shared"


def test_add_fetch_and_remove_networks(account: Account) -> None:
    client = account.client()
    profile = client.supersim.v1.network_access_profiles.create(unique_name="nap", networks=[sid_of("310-410")])
    orange = sid_of("208-01")
    added = client.supersim.v1.network_access_profiles("nap").networks.create(network=orange)
    assert added.sid == orange and added.network_access_profile_sid == profile.sid
    assert added.friendly_name == "Orange" and added.iso_country == "FR"
    assert added.identifiers == [{"mcc": "208", "mnc": "01"}]

    fetched = client.supersim.v1.network_access_profiles(profile.sid).networks(orange).fetch()
    assert client.supersim.v1.network_access_profiles("nap").networks("208-01").fetch().sid == orange
    assert fetched.sid == orange and fetched.url.endswith(f"/NetworkAccessProfiles/{profile.sid}/Networks/{orange}")
    assert {n.sid for n in client.supersim.v1.network_access_profiles(profile.sid).networks.list()} == {
        orange,
        sid_of("310-410"),
    }

    with pytest.raises(TwilioRestException) as twice:
        client.supersim.v1.network_access_profiles(profile.sid).networks.create(network=orange)
    assert 400 <= twice.value.status < 500 and "already" in twice.value.msg

    assert client.supersim.v1.network_access_profiles(profile.sid).networks(orange).delete() is True
    with pytest.raises(TwilioRestException) as removed:
        client.supersim.v1.network_access_profiles(profile.sid).networks(orange).fetch()
    assert removed.value.status == 404
    with pytest.raises(TwilioRestException) as delete_again:
        client.supersim.v1.network_access_profiles(profile.sid).networks(orange).delete()
    assert delete_again.value.status == 404
    assert [n.sid for n in client.supersim.v1.network_access_profiles(profile.sid).networks.list()] == [
        sid_of("310-410")
    ]
    with account.http() as http:
        response = http.delete(f"/supersim/v1/NetworkAccessProfiles/{profile.sid}/Networks/{sid_of('310-410')}")
    assert response.status_code == 204 and response.content == b""


def test_paging_the_networks_of_a_profile(account: Account) -> None:
    client = account.client()
    german = [n.sid for n in catalogue().select(iso_country="DE")][:7]
    profile = client.supersim.v1.network_access_profiles.create(networks=german)
    first = client.supersim.v1.network_access_profiles(profile.sid).networks.page(page_size=3)
    second = first.next_page()
    third = second.next_page()
    assert [n.sid for p in (first, second, third) for n in p] == sorted(german)
    assert third.next_page() is None


def test_errors(account: Account, server) -> None:  # type: ignore[no-untyped-def]
    client = account.client()
    with pytest.raises(TwilioRestException) as unknown_network:
        client.supersim.v1.network_access_profiles.create(unique_name="bad", networks=["999-99"])
    assert unknown_network.value.status == 400 and "Networks" in unknown_network.value.msg
    assert client.supersim.v1.network_access_profiles.list() == []  # nothing half-written

    profile = client.supersim.v1.network_access_profiles.create()
    with pytest.raises(TwilioRestException) as unknown_sid:
        client.supersim.v1.network_access_profiles(profile.sid).networks.create(network="HW" + "0" * 32)
    assert unknown_sid.value.status == 400 and "Network" in unknown_sid.value.msg
    with account.http() as http:
        missing = http.post(f"/supersim/v1/NetworkAccessProfiles/{profile.sid}/Networks", data={})
    assert missing.status_code == 400 and "Network" in missing.json()["message"]
    with pytest.raises(TwilioRestException) as not_in_profile:
        client.supersim.v1.network_access_profiles(profile.sid).networks(sid_of("310-260")).fetch()
    assert not_in_profile.value.status == 404
    with pytest.raises(TwilioRestException) as no_profile:
        client.supersim.v1.network_access_profiles("HA" + "0" * 32).fetch()
    assert no_profile.value.status == 404 and no_profile.value.code == 20404

    created = server.admin("create-account")
    stranger = Account(created["account_sid"], created["auth_token"], server)
    stranger_client = stranger.client()
    with pytest.raises(TwilioRestException) as hidden:
        stranger_client.supersim.v1.network_access_profiles(profile.sid).fetch()
    assert hidden.value.status == 404
    with stranger.http() as http:
        hidden_networks = http.get(f"/supersim/v1/NetworkAccessProfiles/{profile.sid}/Networks")
    assert hidden_networks.status_code == 404 and hidden_networks.json()["code"] == 20404
    with pytest.raises(TwilioRestException) as hidden_add:
        stranger_client.supersim.v1.network_access_profiles(profile.sid).networks.create(network=sid_of("310-260"))
    assert hidden_add.value.status == 404
    assert stranger_client.supersim.v1.network_access_profiles.list() == []
