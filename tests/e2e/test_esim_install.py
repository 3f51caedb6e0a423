"""eSIM profiles past `available`: an emulated device's eUICC downloads and installs one through
`/cellplane/v1/Emulator/Euiccs/{Eid}/Profiles`, and the twilio SDK sees `downloaded`, then `installed`, with a signed
callback at each status; refusals name what is wrong and nothing moves."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import Account
from tests.e2e.test_esim_profiles import make_eid, wait_for_profile
from tests.support.network import EMULATOR, network_server, subscriber  # noqa: F401 (fixtures)
from tests.support.webhooks import WebhookReceiver

EID = make_eid("890490320050088826000334891001")
OTHER_EID = make_eid("890490320050088826000334891002")


@pytest.fixture
def receiver(subscriber: Account) -> Iterator[WebhookReceiver]:  # noqa: F811
    hook = WebhookReceiver(auth_token=subscriber.token).start()
    yield hook
    hook.stop()


def euicc(eid: str) -> str:
    return f"{EMULATOR}/Euiccs/{eid}/Profiles"


def available_profile(account: Account, **order: Any) -> Any:
    account.inventory(1, "esim")
    client = account.client()
    profile = wait_for_profile(client, client.supersim.v1.esim_profiles.create(**order).sid)
    assert profile.status == "available"
    return profile


def test_the_device_downloads_then_installs_the_profile_of_its_eid(
    subscriber: Account,  # noqa: F811
    receiver: WebhookReceiver,
) -> None:
    client = subscriber.client()
    profile = available_profile(subscriber, eid=EID, callback_url=f"{receiver.url}/esim")

    with subscriber.http() as http:
        downloaded = http.post(euicc(EID), data={"Install": "false"})
        assert downloaded.status_code == 201, downloaded.text
        body = downloaded.json()
        assert (body["eid"], body["iccid"], body["esim_profile_sid"]) == (EID, profile.iccid, profile.sid)
        assert (body["sim_sid"], body["state"], body["date_installed"]) == (profile.sim_sid, "downloaded", None)
        assert body["url"] == f"{subscriber.server.base_url}{euicc(EID)}/{profile.iccid}"
        assert client.supersim.v1.esim_profiles(profile.sid).fetch().status == "downloaded"
        assert [p.sid for p in client.supersim.v1.esim_profiles.list(status="downloaded")] == [profile.sid]

        installed = http.post(f"{euicc(EID)}/{profile.iccid}", data={"State": "installed"})
        assert installed.status_code == 200, installed.text
        assert installed.json()["state"] == "installed" and installed.json()["date_installed"]
        listed = http.get(euicc(EID)).json()["profiles"]
        assert [(p["iccid"], p["state"]) for p in listed] == [(profile.iccid, "installed")]
        again = http.post(f"{euicc(EID)}/{profile.iccid}", data={"State": "installed"})
        assert again.status_code == 409 and again.json()["code"] == 20409

    final = client.supersim.v1.esim_profiles(profile.sid).fetch()
    assert (final.status, final.eid, final.iccid, final.sim_sid) == ("installed", EID, profile.iccid, profile.sim_sid)
    assert [p.sid for p in client.supersim.v1.esim_profiles.list(status="installed")] == [profile.sid]
    assert client.supersim.v1.esim_profiles.list(status="downloaded") == []

    hooks = receiver.wait_for(lambda got: len(got) >= 4)
    assert [h.params["Status"] for h in hooks] == ["reserving", "available", "downloaded", "installed"]
    for hook in hooks[2:]:
        assert hook.twilio_signature_valid and hook.kore_signature_valid
        assert (hook.params["EsimProfileSid"], hook.params["Eid"]) == (profile.sid, EID)
        assert (hook.params["SimSid"], hook.params["Iccid"]) == (profile.sim_sid, profile.iccid)


def test_an_activation_code_binds_the_profile_to_the_eid_that_downloads_it(subscriber: Account) -> None:  # noqa: F811
    client = subscriber.client()
    profile = available_profile(subscriber, generate_matching_id=True)
    assert profile.eid is None and profile.activation_code

    with subscriber.http() as http:
        done = http.post(euicc(OTHER_EID), data={"ActivationCode": profile.activation_code})
        assert done.status_code == 201, done.text
        assert (done.json()["state"], done.json()["iccid"]) == ("installed", profile.iccid)
        # Claimed once: another eUICC scanning the same QR code gets nothing.
        second = http.post(euicc(EID), data={"ActivationCode": profile.activation_code})
        assert second.status_code == 404 and second.json()["code"] == 20404
    final = client.supersim.v1.esim_profiles(profile.sid).fetch()
    assert (final.status, final.eid) == ("installed", OTHER_EID)


def test_refusals_name_the_parameter_and_move_nothing(subscriber: Account, network_server: Any) -> None:  # noqa: F811
    client = subscriber.client()
    profile = available_profile(subscriber, eid=EID)
    stranger_keys = network_server.admin("create-account")
    stranger = Account(stranger_keys["account_sid"], stranger_keys["auth_token"], network_server)

    bad_eid = EID[:-1] + str((int(EID[-1]) + 1) % 10)
    with subscriber.http() as http:
        cases = [
            (euicc(bad_eid), {}, 400, "Eid"),
            (euicc("123"), {}, 400, "Eid"),
            (euicc(EID), {"ActivationCode": "LPA:2$smdp.example$X"}, 400, "ActivationCode"),
            (euicc(EID), {"ActivationCode": "LPA:1$smdp.example$"}, 400, "ActivationCode"),
            (euicc(EID), {"MatchingId": "no spaces"}, 400, "MatchingId"),
            (euicc(EID), {"MatchingId": "A", "ActivationCode": "LPA:1$h$A"}, 400, "ActivationCode"),
            (euicc(EID), {"Install": "maybe"}, 400, "Install"),
            (euicc(EID), {"MatchingId": "ZZZZZ-ZZZZZ-ZZZZZ-ZZZZZ-ZZZZZ"}, 404, "ZZZZZ"),
            (euicc(OTHER_EID), {}, 404, OTHER_EID),  # nothing ordered for this EID
            (f"{euicc(EID)}/{profile.iccid}", {"State": "installed"}, 404, profile.iccid),  # not on the eUICC yet
            (f"{euicc(EID)}/{profile.iccid}", {"State": "gone"}, 400, "State"),
        ]
        for path, data, status, needle in cases:
            answer = http.post(path, data=data)
            assert answer.status_code == status, (path, data, answer.text)
            assert needle in answer.json()["message"], (path, data, answer.json())
    with stranger.http() as http:
        # Another account's profile is not offered to its eUICC.
        foreign = http.post(euicc(EID))
        assert foreign.status_code == 404 and foreign.json()["code"] == 20404
    assert client.supersim.v1.esim_profiles(profile.sid).fetch().status == "available"

    with subscriber.http() as http:
        assert http.post(euicc(EID)).status_code == 201
    with stranger.http() as http:
        assert http.get(euicc(EID)).json()["profiles"] == []  # the stranger sees none of it
    assert client.supersim.v1.esim_profiles(profile.sid).fetch().status == "installed"
