"""SMS Commands end to end: the twilio SDK against the real platform running its SMS center and the emulated radio
network in-process, devices driven through `/cellplane/v1/Emulator` (their SMS app included), and a real webhook
receiver that checks every signature.

To the SIM: queued -> sent -> delivered into the device's inbox, with a callback at each change; an idle device is
paged for it; a device that is off makes it fail with an error. Refusals: SMS disabled on the fleet, a SIM that
may not be reached, 161 characters (or 71 that need UCS-2), empty payloads. From the SIM: an SMS the device sends
reaches the fleet's sms_commands_url. Five SMS either way turn a `ready` SIM `active`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from twilio.base.exceptions import TwilioRestException

from tests.conftest import Account
from tests.e2e.test_sims import wait_for_status
from tests.support.network import (
    EMULATOR,
    USA,
    Devices,
    Fleet,
    Sim,
    eventually,
    make_fleet,
    make_sim,
    network_server,
    subscriber,
)
from tests.support.webhooks import WebhookReceiver

__all__ = ["network_server", "subscriber"]  # fixtures, imported for pytest

SEED_PARAMETERS = {"AccountSid", "CommandSid", "SimSid", "SimUniqueName", "Payload", "PayloadType", "Direction"}


@pytest.fixture
def receiver(subscriber: Account) -> Iterator[WebhookReceiver]:
    hook = WebhookReceiver(auth_token=subscriber.token).start()
    yield hook
    hook.stop()


def named_sim(account: Account, fleet: Fleet, status: str = "active") -> Sim:
    sim = make_sim(account, fleet, status)
    account.client().supersim.v1.sims(sim.sid).update(unique_name=f"meter-{sim.sid[-6:]}")
    return sim


def command_status(account: Account, sid: str, wanted: str) -> dict[str, Any]:
    http = account.http()
    body: dict[str, Any] = eventually(
        lambda: http.get(f"/supersim/v1/SmsCommands/{sid}").json(), lambda c: c["status"] == wanted
    )
    assert body["status"] == wanted, body
    return body


def inbox(account: Account, iccid: str, **params: str) -> list[dict[str, Any]]:
    response = account.http().get(f"{EMULATOR}/Devices/{iccid}/Sms", params=params)
    assert response.status_code == 200, response.text
    messages: list[dict[str, Any]] = response.json()["messages"]
    return messages


def send_from_device(account: Account, iccid: str, body: str) -> dict[str, Any]:
    response = account.http().post(f"{EMULATOR}/Devices/{iccid}/Sms", data={"Body": body})
    assert response.status_code == 201, response.text
    sent: dict[str, Any] = response.json()
    return sent


def refused(call: Callable[[], Any]) -> TwilioRestException:
    with pytest.raises(TwilioRestException) as caught:
        call()
    return caught.value


def test_an_sms_to_the_sim_is_queued_sent_and_delivered_with_a_callback_at_each_step(
    subscriber: Account, receiver: WebhookReceiver
) -> None:
    client = subscriber.client()
    sim = named_sim(subscriber, make_fleet(subscriber, [USA]))
    Devices(subscriber).attach(sim.iccid, USA)
    text = "Report location: (52.520008, 13.404954) {now} €5"  # extension characters: two septets each

    command = client.supersim.v1.sms_commands.create(
        sim=f"meter-{sim.sid[-6:]}", payload=text, callback_url=f"{receiver.url}/status", callback_method="POST"
    )

    assert (command.status, command.direction, command.sim_sid, command.payload) == ("queued", "to_sim", sim.sid, text)
    assert command.sid.startswith("HC") and command.account_sid == subscriber.sid
    assert command.url == f"{subscriber.server.base_url}/supersim/v1/SmsCommands/{command.sid}"
    delivered = command_status(subscriber, command.sid, "delivered")
    assert (delivered["error_code"], delivered["error_message"]) == (None, None)
    [received] = inbox(subscriber, sim.iccid)
    assert (received["body"], received["from"], received["alphabet"]) == (text, "000", "gsm7")
    hooks = receiver.wait_for(lambda got: len(got) >= 2)
    assert sorted(h.params["Status"] for h in hooks) == ["delivered", "sent"]
    for hook in hooks:
        assert hook.twilio_signature_valid and hook.kore_signature_valid and hook.path == "/status"
        assert set(hook.params) >= SEED_PARAMETERS and "ErrorCode" not in hook.params
        assert (hook.params["CommandSid"], hook.params["Payload"], hook.params["PayloadType"]) == (
            command.sid,
            text,
            "text",
        )
        assert hook.params["SimUniqueName"] == f"meter-{sim.sid[-6:]}" and hook.params["Direction"] == "to_sim"
    # List and fetch, with the spec's filters.
    assert [c.sid for c in client.supersim.v1.sms_commands.list(sim=sim.sid, status="delivered")] == [command.sid]
    assert [c.sid for c in client.supersim.v1.sms_commands.list(sim=f"meter-{sim.sid[-6:]}")] == [command.sid]
    assert client.supersim.v1.sms_commands.list(direction="from_sim") == []
    assert client.supersim.v1.sms_commands(command.sid).fetch().status == "delivered"


def test_an_idle_device_is_paged_for_its_sms(subscriber: Account) -> None:
    client = subscriber.client()
    sim = make_sim(subscriber, make_fleet(subscriber, [USA]))
    devices = Devices(subscriber)
    devices.attach(sim.iccid, USA)
    assert devices.update(sim.iccid, State="idle").json()["state"] == "idle"

    command = client.supersim.v1.sms_commands.create(sim=sim.sid, payload="wake up")

    command_status(subscriber, command.sid, "delivered")
    assert [m["body"] for m in inbox(subscriber, sim.iccid)] == ["wake up"]
    assert devices.get(sim.iccid)["state"] == "attached"  # it answered the page


def test_an_edrx_sleeper_gets_its_sms_on_waking(subscriber: Account) -> None:
    client = subscriber.client()
    sim = make_sim(subscriber, make_fleet(subscriber, [USA]))
    devices = Devices(subscriber)
    devices.attach(sim.iccid, USA)
    devices.update(sim.iccid, State="edrx")

    command = client.supersim.v1.sms_commands.create(sim=sim.sid, payload="held for you")

    command_status(subscriber, command.sid, "sent")  # the network holds it while the device sleeps
    assert inbox(subscriber, sim.iccid) == []
    devices.update(sim.iccid, State="attached")
    command_status(subscriber, command.sid, "delivered")
    assert [m["body"] for m in inbox(subscriber, sim.iccid)] == ["held for you"]


def test_an_sms_to_a_device_that_is_off_fails_with_an_error_and_a_callback(
    subscriber: Account, receiver: WebhookReceiver
) -> None:
    client = subscriber.client()
    sim = make_sim(subscriber, make_fleet(subscriber, [USA]))

    command = client.supersim.v1.sms_commands.create(
        sim=sim.sid, payload="are you there?", callback_url=receiver.url, callback_method="GET"
    )

    assert command.status == "queued"
    failed = command_status(subscriber, command.sid, "failed")
    assert failed["error_code"] == 89100 and "not attached" in failed["error_message"]
    [hook] = receiver.wait_for(lambda got: len(got) >= 1)
    assert hook.method == "GET" and hook.twilio_signature_valid and hook.kore_signature_valid
    assert (hook.params["Status"], hook.params["ErrorCode"]) == ("failed", "89100")
    assert "not attached" in hook.params["ErrorMessage"]
    assert [c.sid for c in client.supersim.v1.sms_commands.list(status="failed")] == [command.sid]


def test_refusals_are_clear_and_write_nothing(subscriber: Account) -> None:
    client = subscriber.client()
    fleet = make_fleet(subscriber, [USA])
    sim = make_sim(subscriber, fleet)
    silent = make_sim(subscriber, make_fleet(subscriber, [USA], sms_commands_enabled=False))
    inactive = make_sim(subscriber, fleet, "inactive")
    [new_sim] = subscriber.claim(1)
    create = client.supersim.v1.sms_commands.create

    error = refused(lambda: create(sim=silent.sid, payload="hello"))
    assert (error.status, error.code) == (400, 20001) and "SMS Commands are disabled" in error.msg
    for key in (inactive.sid, new_sim.sid):
        error = refused(lambda key=key: create(sim=key, payload="hello"))
        assert error.status == 400 and "active or ready" in error.msg, key
    for key in ("HS" + "0" * 32, "no-such-sim"):
        assert refused(lambda key=key: create(sim=key, payload="hello")).status == 404
    cases = {
        "x" * 161: "161 characters of the GSM 7-bit alphabet",
        "x" * 159 + "€": "161 characters of the GSM 7-bit alphabet",  # € takes two septets
        "°" * 71: "71 UCS-2 characters",
        "": "Missing required parameter Payload",
    }
    for payload, words in cases.items():
        error = refused(lambda payload=payload: create(sim=sim.sid, payload=payload))
        assert error.status == 400 and words in error.msg and "Payload" in error.msg, (payload, error.msg)
    bad_method = subscriber.http().post(
        "/supersim/v1/SmsCommands", data={"Sim": sim.sid, "Payload": "x", "CallbackMethod": "TRACE"}
    )
    assert bad_method.status_code == 400 and "CallbackMethod" in bad_method.json()["message"]
    assert client.supersim.v1.sms_commands.list() == []  # nothing was written
    # The largest payloads go: 160 GSM 7-bit characters, 70 UCS-2 ones.
    assert create(sim=sim.sid, payload="é" * 160).status == "queued"
    assert create(sim=sim.sid, payload="°" * 70).status == "queued"


def test_an_sms_from_the_device_reaches_the_fleet_url(subscriber: Account, receiver: WebhookReceiver) -> None:
    client = subscriber.client()
    fleet = make_fleet(subscriber, [USA], sms_commands_url=f"{receiver.url}/mo", sms_commands_method="POST")
    sim = named_sim(subscriber, fleet)
    devices = Devices(subscriber)
    devices.attach(sim.iccid, USA)
    devices.update(sim.iccid, State="idle")  # it wakes up to send

    sent = send_from_device(subscriber, sim.iccid, "temp=21.5\nbattery=87%")

    assert (sent["status"], sent["to"], sent["rp_cause"]) == ("accepted", "000", None)
    [hook] = receiver.wait_for(lambda got: len(got) >= 1)
    assert hook.twilio_signature_valid and hook.kore_signature_valid and hook.path == "/mo" and hook.method == "POST"
    assert set(hook.params) >= SEED_PARAMETERS | {"Status"}
    assert (hook.params["Status"], hook.params["Direction"], hook.params["Payload"]) == (
        "received",
        "from_sim",
        "temp=21.5\nbattery=87%",
    )
    assert (hook.params["SimSid"], hook.params["SimUniqueName"]) == (sim.sid, f"meter-{sim.sid[-6:]}")
    [command] = client.supersim.v1.sms_commands.list(direction="from_sim")
    assert (command.sid, command.status, command.sim_sid) == (hook.params["CommandSid"], "received", sim.sid)
    assert [m["status"] for m in inbox(subscriber, sim.iccid, Direction="from_sim")] == ["accepted"]
    other = subscriber.server.admin("create-account", "--friendly-name", "other")
    stranger = Account(other["account_sid"], other["auth_token"], subscriber.server).http()
    assert stranger.get(f"{EMULATOR}/Devices/{sim.iccid}/Sms").status_code == 404  # not their SIM
    assert stranger.post(f"{EMULATOR}/Devices/{sim.iccid}/Sms", data={"Body": "x"}).status_code == 404


def test_an_sms_from_a_device_whose_fleet_has_sms_disabled_is_refused_by_the_network(subscriber: Account) -> None:
    client = subscriber.client()
    sim = make_sim(subscriber, make_fleet(subscriber, [USA], sms_commands_enabled=False))
    devices = Devices(subscriber)
    devices.attach(sim.iccid, USA)

    sent = send_from_device(subscriber, sim.iccid, "hello?")

    assert (sent["status"], sent["rp_cause"]) == ("refused", 50)  # TS 24.011: requested facility not subscribed
    assert client.supersim.v1.sms_commands.list() == []
    too_long = subscriber.http().post(f"{EMULATOR}/Devices/{sim.iccid}/Sms", data={"Body": "x" * 161})
    assert too_long.status_code == 400 and "Body" in too_long.json()["message"]
    devices.update(sim.iccid, State="detached")
    detached = subscriber.http().post(f"{EMULATOR}/Devices/{sim.iccid}/Sms", data={"Body": "x"})
    assert detached.status_code == 409


def test_five_sms_turn_a_ready_sim_active(subscriber: Account) -> None:
    client = subscriber.client()
    sim = make_sim(subscriber, make_fleet(subscriber, [USA]), "ready")
    Devices(subscriber).attach(sim.iccid, USA)

    for number in range(3):
        command = client.supersim.v1.sms_commands.create(sim=sim.sid, payload=f"to the SIM #{number}")
        command_status(subscriber, command.sid, "delivered")
    send_from_device(subscriber, sim.iccid, "from the SIM #1")
    assert client.supersim.v1.sims(sim.sid).fetch().status == "ready"  # four so far
    send_from_device(subscriber, sim.iccid, "from the SIM #2")

    active = wait_for_status(client, sim.sid, "active")
    assert active.status == "active"
    periods = client.supersim.v1.sims(sim.sid).billing_periods.list()
    assert {p.period_type for p in periods} == {"ready", "active"}
