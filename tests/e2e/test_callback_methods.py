"""Callback methods (issue 14, finding 3): every `...Method` parameter takes the seed's six methods, and the callback
goes out with that method to a real receiver, signed as the platform signs.

The seed's own IP Command example (seeds/001) sends `CallbackMethod=HEAD`. Methods without a body (GET, HEAD,
DELETE) carry the parameters in the query string and are signed over the URL with its query; POST, PUT and PATCH
carry a form body, signed over the URL and the sorted parameters; `kore-signature` uses the method each time.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from twilio.request_validator import RequestValidator

from tests.conftest import Account
from tests.e2e.test_ip_commands import PORT, active_sim
from tests.support.server import Server
from tests.support.webhooks import WebhookReceiver

SIX = ("HEAD", "GET", "POST", "PATCH", "PUT", "DELETE")


@pytest.fixture
def receiver(account: Account) -> Iterator[WebhookReceiver]:
    hook = WebhookReceiver(auth_token=account.token).start()
    yield hook
    hook.stop()


@pytest.mark.parametrize("method", SIX)
def test_an_ip_command_callback_goes_out_with_its_method_signed(
    account: Account, receiver: WebhookReceiver, method: str
) -> None:
    sim = active_sim(account)  # not attached: the command fails at once and its callback says so
    with account.http() as http:  # raw form, as the seed's curl example sends it (the method in lower case too)
        answer = http.post(
            "/supersim/v1/IpCommands",
            data={
                "Sim": sim.sid,
                "Payload": "hello",
                "DevicePort": str(PORT),
                "CallbackUrl": f"{receiver.url}/cb/{method.lower()}?site=berlin",
                "CallbackMethod": method.lower() if method == "PATCH" else method,
            },
        )
    assert answer.status_code == 201, answer.text
    command_sid = answer.json()["sid"]
    [hook] = receiver.wait_for(lambda got: len(got) >= 1)
    assert (hook.method, hook.path) == (method, f"/cb/{method.lower()}")
    assert hook.twilio_signature_valid and hook.kore_signature_valid
    params = hook.params
    assert (params["CommandSid"], params["AccountSid"], params["SimSid"]) == (command_sid, account.sid, sim.sid)
    assert params["Status"] == "failed"
    if method in ("GET", "HEAD", "DELETE"):
        assert hook.body == b"" and "content-type" not in hook.headers
        assert params["site"] == "berlin"  # the URL's own query kept, ours appended
        assert RequestValidator(account.token).validate(hook.url, {}, hook.headers["x-twilio-signature"])
    else:
        assert hook.headers["content-type"] == "application/x-www-form-urlencoded"
        assert "site" not in params and b"CommandSid=" in hook.body
        assert RequestValidator(account.token).validate(hook.url, params, hook.headers["x-twilio-signature"])
    with account.http() as http:
        [delivery] = http.get("/cellplane/v1/WebhookDeliveries", params={"ResourceSid": command_sid}).json()[
            "webhook_deliveries"
        ]
    assert (delivery["callback_method"], delivery["status"]) == (method, "delivered")


def test_every_method_parameter_takes_the_six_and_names_itself_when_wrong(server: Server, account: Account) -> None:
    client = account.client()
    with account.http() as http:
        profile = client.supersim.v1.network_access_profiles.create(networks=["310-260"])
        for method in SIX:
            fleet = http.post(
                "/supersim/v1/Fleets",
                data={
                    "NetworkAccessProfile": profile.sid,
                    "IpCommandsUrl": "http://127.0.0.1:9/ip",
                    "IpCommandsMethod": method,
                    "SmsCommandsUrl": "http://127.0.0.1:9/sms",
                    "SmsCommandsMethod": method,
                },
            )
            assert fleet.status_code == 201, fleet.text
            assert (fleet.json()["ip_commands_method"], fleet.json()["sms_commands_method"]) == (method, method)
        wrong = http.post(f"/supersim/v1/Fleets/{fleet.json()['sid']}", data={"IpCommandsMethod": "TRACE"})
        assert wrong.status_code == 400
        assert "IpCommandsMethod" in wrong.json()["message"] and "HEAD" in wrong.json()["message"]

        [wireless] = server.admin("provision-sims", "--count", "1", "--product", "wireless", "--account", account.sid)
        sim_sid = _wireless_sim_sid(http, wireless["iccid"])
        updates = {
            "CallbackUrl": "http://127.0.0.1:9/cb",
            "CallbackMethod": "DELETE",
            "CommandsCallbackUrl": "http://127.0.0.1:9/commands",
            "CommandsCallbackMethod": "PUT",
            "SmsUrl": "http://127.0.0.1:9/sms",
            "SmsMethod": "HEAD",
        }
        updated = http.post(f"/wireless/v1/Sims/{sim_sid}", data=updates)
        assert updated.status_code in (200, 202), updated.text
        body = updated.json()
        assert (body["commands_callback_method"], body["sms_method"]) == ("PUT", "HEAD")
        wrong = http.post(f"/wireless/v1/Sims/{sim_sid}", data={"SmsMethod": "CONNECT"})
        assert wrong.status_code == 400 and "SmsMethod" in wrong.json()["message"]


def _wireless_sim_sid(http: httpx.Client, iccid: str) -> str:
    listed = http.get("/wireless/v1/Sims", params={"Iccid": iccid}).json()["sims"]
    assert listed, f"wireless SIM {iccid} is not in the account's list"
    return str(listed[0]["sid"])
