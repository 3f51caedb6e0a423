"""IP Commands end to end: the twilio SDK against the real platform, devices of an emulated radio network
attached to its gateway over GTP, and a real webhook receiver that checks every signature.

To the SIM: text and binary commands arrive byte-exact at a UDP socket through the device's bridge app, and
the G-PDU that carried one decodes with scapy; idle devices are paged, eDRX sleepers get it on waking where
the network buffers (HLCOM) and lose it where it does not. From the SIM: datagrams to 100.64.0.1 reach the
fleet's URL. Every synchronous error, the not-attached failure, a callback at each status, retried until
acknowledged, and the webhook deliveries that record it.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from scapy.layers.inet import IP, UDP
from twilio.base.exceptions import TwilioRestException

from tests.conftest import Account
from tests.e2e.test_sims import wait_for_status
from tests.e2e.test_user_plane import checked_inner
from tests.support.radio import Radio
from tests.support.server import Server
from tests.support.webhooks import WebhookReceiver

PORT = 6655
BINARY = bytes(range(256)) * 5 + bytes(range(20))  # 1300 bytes: the largest payload, every byte value
SEED_PARAMETERS = {"AccountSid", "CommandSid", "SimSid", "SimUniqueName", "Payload", "PayloadType", "Direction"}


@pytest.fixture(scope="module")
def radio(server: Server) -> Iterator[Radio]:
    radio = Radio(server).start()
    yield radio
    radio.close()


@pytest.fixture
def receiver(account: Account) -> Iterator[WebhookReceiver]:
    hook = WebhookReceiver(auth_token=account.token).start()
    yield hook
    hook.stop()


@dataclass
class Device:
    sid: str
    iccid: str
    imsi: str


def eventually(check: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            assert value, f"{what} not met in {timeout}s"
            return value
        time.sleep(0.05)


def active_sim(account: Account, *, networks: tuple[str, ...] = ("310-260",), **fleet: Any) -> Device:
    """A claimed, active SIM in a fleet with data enabled on `networks` (and the fleet settings given)."""
    client = account.client()
    profile = client.supersim.v1.network_access_profiles.create(networks=list(networks))
    created = client.supersim.v1.fleets.create(network_access_profile=profile.sid, data_enabled=True, **fleet)
    [provisioned] = account.inventory(1)
    sim = client.supersim.v1.sims.create(iccid=provisioned["iccid"], registration_code=provisioned["registration_code"])
    client.supersim.v1.sims(sim.sid).update(fleet=created.sid, status="active", unique_name=f"meter-{sim.sid[-6:]}")
    wait_for_status(client, sim.sid, "active")
    return Device(sim.sid, provisioned["iccid"], provisioned["imsi"])


def status_of(account: Account, sid: str, wanted: str, timeout: float = 10.0) -> Any:
    client = account.client()
    return eventually(
        lambda: (c := client.supersim.v1.ip_commands(sid).fetch()).status == wanted and c,
        timeout,
        f"IP Command {sid} {wanted}",
    )


def test_text_and_binary_commands_arrive_byte_exact_through_the_bridge(
    account: Account, radio: Radio, receiver: WebhookReceiver
) -> None:
    client = account.client()
    sim = active_sim(account)
    attached = radio.attach(sim.iccid, sim.imsi)
    socket = radio.bridge(sim.iccid, PORT)
    try:
        text = client.supersim.v1.ip_commands.create(
            sim=sim.sid, payload="checkin: firmware update ✓", device_port=PORT, callback_url=f"{receiver.url}/cb"
        )
        assert (text.status, text.direction, text.payload_type, text.device_ip) == ("queued", "to_sim", "text", None)
        assert text.sid.startswith("HG") and text.url == f"{account.server.base_url}/supersim/v1/IpCommands/{text.sid}"
        assert socket.receive() == "checkin: firmware update ✓".encode()
        encoded = base64.b64encode(BINARY).decode()
        binary = client.supersim.v1.ip_commands.create(
            sim=f"meter-{sim.sid[-6:]}", payload=encoded, payload_type="binary", device_port=PORT
        )
        assert socket.receive() == BINARY
    finally:
        socket.close()
    sent = status_of(account, binary.sid, "sent")
    assert (sent.device_ip, sent.device_port, sent.payload, sent.sim_iccid) == (
        attached.session["ip_address"] if attached.session else None,
        PORT,
        encoded,
        sim.iccid,
    )
    [hook] = receiver.wait_for(lambda got: len(got) >= 1)
    assert hook.twilio_signature_valid and hook.kore_signature_valid and hook.path == "/cb"
    assert set(hook.params) >= SEED_PARAMETERS and "ErrorCode" not in hook.params
    assert hook.params["Status"] == "sent" and hook.params["CommandSid"] == text.sid
    assert hook.params["SimUniqueName"] == f"meter-{sim.sid[-6:]}" and hook.params["AccountSid"] == account.sid
    # The G-PDU that carried the binary command, as scapy (an independent decoder) reads it.
    [packet] = [p for p in map(checked_inner, radio.downlink) if UDP in p and bytes(p[UDP].payload) == BINARY]
    assert (packet[IP].src, packet[IP].dst) == ("100.64.0.1", sent.device_ip)
    assert (packet[UDP].sport, packet[UDP].dport, packet[UDP].len) == (PORT, PORT, 8 + len(BINARY))


def test_commands_from_the_sim_reach_the_fleet_url(account: Account, radio: Radio, receiver: WebhookReceiver) -> None:
    client = account.client()
    sim = active_sim(account, ip_commands_url=f"{receiver.url}/mo", ip_commands_method="POST")
    attached = radio.attach(sim.iccid, sim.imsi)
    device_ip = attached.session["ip_address"] if attached.session else None
    assert radio.send(sim.iccid, 7000, "100.64.0.1", 9999, b"\x00\x01temperature=21.5\xff")
    socket = radio.bridge(sim.iccid, PORT)
    try:
        socket.send_as_device(b"from firmware")  # a program on the host speaking as the device
        hooks = receiver.wait_for(lambda got: len(got) >= 2)
    finally:
        socket.close()
    by_payload = {base64.b64decode(h.params["Payload"]): h for h in hooks}
    first, second = by_payload[b"\x00\x01temperature=21.5\xff"], by_payload[b"from firmware"]
    assert all(h.twilio_signature_valid and h.kore_signature_valid and h.path == "/mo" for h in hooks)
    assert first.params["Status"] == "received" and first.params["Direction"] == "from_sim"
    assert first.params["PayloadType"] == "binary" and first.params["SimSid"] == sim.sid
    assert (first.params["DevicePort"], first.params["DeviceIp"]) == ("7000", device_ip)
    assert second.params["DevicePort"] == str(PORT)
    received = client.supersim.v1.ip_commands.list(sim=sim.sid, direction="from_sim")
    assert {c.sid for c in received} == {h.params["CommandSid"] for h in hooks}
    command = client.supersim.v1.ip_commands(first.params["CommandSid"]).fetch()
    assert (command.status, command.device_ip, command.device_port) == ("received", device_ip, 7000)
    assert base64.b64decode(command.payload) == b"\x00\x01temperature=21.5\xff"
    assert [c.sid for c in client.supersim.v1.ip_commands.list(sim_iccid=sim.iccid, status="received")] == [
        c.sid for c in received
    ]
    assert client.supersim.v1.ip_commands.list(sim=sim.sid, direction="to_sim") == []


def test_idle_device_is_paged_and_gets_the_command(account: Account, radio: Radio) -> None:
    client = account.client()
    sim = active_sim(account)
    radio.attach(sim.iccid, sim.imsi)
    socket = radio.bridge(sim.iccid, PORT)
    try:
        assert radio.set_state(sim.iccid, "idle").state == "idle"
        command = client.supersim.v1.ip_commands.create(sim=sim.sid, payload="wake up", device_port=PORT)
        assert socket.receive() == b"wake up"
    finally:
        socket.close()
    assert radio.device(sim.iccid).state == "attached"  # it answered the page
    status_of(account, command.sid, "sent")


def test_edrx_sleeper_gets_the_command_on_waking_where_the_network_buffers(account: Account, radio: Radio) -> None:
    client = account.client()
    sim = active_sim(account, networks=("262-01",))
    radio.hlcom("262", "01", True)
    radio.attach(sim.iccid, sim.imsi, "262", "01")
    socket = radio.bridge(sim.iccid, PORT)
    try:
        radio.set_state(sim.iccid, "edrx")
        command = client.supersim.v1.ip_commands.create(sim=sim.sid, payload="buffered", device_port=PORT)
        status_of(account, command.sid, "sent")
        assert socket.receive(timeout=0.3) is None  # asleep: held in the visited network
        assert eventually(lambda: radio.device(sim.iccid).usage["buffered_packets"] == 1)
        radio.set_state(sim.iccid, "attached")
        assert socket.receive() == b"buffered"
    finally:
        socket.close()


def test_edrx_sleeper_loses_the_command_where_the_network_does_not_buffer(account: Account, radio: Radio) -> None:
    client = account.client()
    sim = active_sim(account, networks=("234-15",))
    radio.hlcom("234", "15", False)
    radio.attach(sim.iccid, sim.imsi, "234", "15")
    socket = radio.bridge(sim.iccid, PORT)
    try:
        radio.set_state(sim.iccid, "edrx")
        command = client.supersim.v1.ip_commands.create(sim=sim.sid, payload="lost", device_port=PORT)
        # What the network knows: the command went to the visited network, so it is `sent`.
        sent = status_of(account, command.sid, "sent")
        assert sent.device_ip is not None
        assert eventually(lambda: radio.device(sim.iccid).usage["dropped_packets"] == 1)
        radio.set_state(sim.iccid, "attached")
        assert socket.receive(timeout=0.3) is None
    finally:
        socket.close()


def test_not_attached_fails_with_an_error_and_a_callback(account: Account, receiver: WebhookReceiver) -> None:
    client = account.client()
    sim = active_sim(account)
    command = client.supersim.v1.ip_commands.create(
        sim=sim.sid, payload="hello?", device_port=PORT, callback_url=receiver.url, callback_method="GET"
    )
    assert command.status == "queued"
    failed = status_of(account, command.sid, "failed")
    assert failed.device_ip is None
    body = account.http().get(f"/supersim/v1/IpCommands/{command.sid}").json()
    assert body["error_code"] == 83400 and "not attached" in body["error_message"]
    [hook] = receiver.wait_for(lambda got: len(got) >= 1)
    assert hook.method == "GET" and hook.twilio_signature_valid
    assert (hook.params["Status"], hook.params["ErrorCode"]) == ("failed", "83400")
    assert "not attached" in hook.params["ErrorMessage"]
    assert [c.sid for c in client.supersim.v1.ip_commands.list(status="failed")] == [command.sid]


def refused(call: Callable[[], Any]) -> TwilioRestException:
    with pytest.raises(TwilioRestException) as caught:
        call()
    return caught.value


def test_synchronous_errors_are_clear_and_write_nothing(account: Account, server: Server) -> None:
    client = account.client()
    sim = active_sim(account)
    [new_sim] = account.claim(1)
    other = server.admin("create-account", "--friendly-name", "other")
    other_sim = Account(other["account_sid"], other["auth_token"], server).claim(1)[0]
    create = client.supersim.v1.ip_commands.create

    for key in (other_sim.sid, "HS" + "0" * 32, "no-such-sim"):  # the seed's "Unknown SIM"
        error = refused(lambda key=key: create(sim=key, payload="x", device_port=PORT))
        assert (error.status, error.code) == (404, 20404), key
    error = refused(lambda: create(sim=new_sim.sid, payload="x", device_port=PORT))  # neither active nor ready
    assert error.status == 400 and "active or ready" in error.msg
    cases: list[tuple[dict[str, Any], str]] = [
        ({"payload": "x" * 1301}, "Payload"),
        ({"payload": "é" * 651}, "Payload"),  # 1302 bytes of UTF-8
        ({"payload": base64.b64encode(bytes(1301)).decode(), "payload_type": "binary"}, "Payload"),
        ({"payload": "not base64!", "payload_type": "binary"}, "Payload"),
        ({"payload": "x", "payload_type": "hex"}, "PayloadType"),
        ({"device_port": 0}, "DevicePort"),
        ({"device_port": 65536}, "DevicePort"),
        ({"device_port": "http"}, "DevicePort"),
        ({"callback_url": "ftp://example.com/x"}, "CallbackUrl"),
        ({"callback_url": "http://127.0.0.1:9/x", "callback_method": "TRACE"}, "CallbackMethod"),
    ]
    for change, parameter in cases:
        arguments = {"sim": sim.sid, "payload": "x", "device_port": PORT, **change}
        error = refused(lambda arguments=arguments: create(**arguments))
        assert (error.status, error.code) == (400, 20001), change
        assert parameter in error.msg, (change, error.msg)
    http = account.http()
    for form, parameter in (
        ({"Payload": "x", "DevicePort": PORT}, "Sim"),
        ({"Sim": sim.sid, "DevicePort": PORT}, "Payload"),
        ({"Sim": sim.sid, "Payload": "x"}, "DevicePort"),
    ):
        response = http.post("/supersim/v1/IpCommands", data=form)
        assert response.status_code == 400 and parameter in response.json()["message"], form
    text_limit = create(sim=sim.sid, payload="é" * 650, device_port=PORT)  # exactly 1300 bytes is fine
    assert [c.sid for c in client.supersim.v1.ip_commands.list()] == [text_limit.sid]  # nothing else was written
    assert refused(lambda: client.supersim.v1.ip_commands("HG" + "0" * 32).fetch()).status == 404
    other_client = Account(other["account_sid"], other["auth_token"], server).client()
    assert refused(lambda: other_client.supersim.v1.ip_commands(text_limit.sid).fetch()).status == 404
    assert http.get("/supersim/v1/IpCommands", params={"Status": "lost"}).status_code == 400
    assert http.get("/supersim/v1/IpCommands", params={"Direction": "up"}).status_code == 400


def test_callback_retried_until_acknowledged_and_its_deliveries_listed(account: Account) -> None:
    receiver = WebhookReceiver(auth_token=account.token, fail_first=2).start()
    try:
        client = account.client()
        sim = active_sim(account)
        command = client.supersim.v1.ip_commands.create(
            sim=sim.sid, payload="retry me", device_port=PORT, callback_url=receiver.url
        )
        [hook] = receiver.wait_for(lambda got: len(got) >= 1)
        time.sleep(0.3)  # nothing more comes: delivered once
        assert receiver.attempts == 3 and len(receiver.received) == 1
        assert hook.params["Status"] == "failed" and hook.twilio_signature_valid
    finally:
        receiver.stop()
    http = account.http()
    listed = http.get("/cellplane/v1/WebhookDeliveries", params={"ResourceSid": command.sid}).json()
    [delivery] = listed["webhook_deliveries"]
    assert (delivery["status"], delivery["attempts"], delivery["last_status_code"]) == ("delivered", 3, 200)
    assert (delivery["event"], delivery["callback_url"]) == ("ip_command.failed", receiver.url)
    assert delivery["parameters"]["CommandSid"] == command.sid and listed["meta"]["key"] == "webhook_deliveries"
    fetched = http.get(f"/cellplane/v1/WebhookDeliveries/{delivery['sid']}").json()
    assert [a["status_code"] for a in fetched["attempt_history"]] == [500, 500, 200]
    assert [a["attempt"] for a in fetched["attempt_history"]] == [1, 2, 3]
    assert fetched["url"].endswith(f"/cellplane/v1/WebhookDeliveries/{delivery['sid']}")
    for params, count in (
        ({"Event": "ip_command.failed"}, 1),
        ({"Event": "ip_command.sent"}, 0),
        ({"Status": "delivered"}, 1),
        ({"Status": "failed"}, 0),
    ):
        body = http.get("/cellplane/v1/WebhookDeliveries", params=params).json()
        assert len(body["webhook_deliveries"]) == count, params
    assert http.get("/cellplane/v1/WebhookDeliveries", params={"Status": "lost"}).status_code == 400
    assert http.get("/cellplane/v1/WebhookDeliveries", params={"ResourceSid": "x"}).status_code == 400
    assert http.get("/cellplane/v1/WebhookDeliveries/WD" + "0" * 32).status_code == 404


def test_a_sim_that_changed_after_a_command_is_refused_at_once(account: Account) -> None:
    """The platform remembers the SIMs commands went to (PostgreSQL: the batch statement checks each one as it
    writes); a SIM deactivated, or renamed, after a command was accepted must refuse the next one synchronously,
    exactly as a SIM never seen, and nothing may be written for it."""
    client = account.client()
    create = client.supersim.v1.ip_commands.create
    device = active_sim(account)
    name = f"meter-{device.sid[-6:]}"
    assert create(sim=name, payload="warm", device_port=PORT).status == "queued"
    assert create(sim=device.sid, payload="warm", device_port=PORT).status == "queued"

    client.supersim.v1.sims(device.sid).update(unique_name=f"renamed-{device.sid[-6:]}")
    error = refused(lambda: create(sim=name, payload="old name", device_port=PORT))
    assert (error.status, error.code) == (404, 20404)
    assert create(sim=f"renamed-{device.sid[-6:]}", payload="new name", device_port=PORT).status == "queued"

    client.supersim.v1.sims(device.sid).update(status="inactive")
    wait_for_status(client, device.sid, "inactive")
    error = refused(lambda: create(sim=device.sid, payload="inactive", device_port=PORT))
    assert error.status == 400 and "active or ready" in error.msg
    payloads = {c.payload for c in client.supersim.v1.ip_commands.list(sim=device.sid, direction="to_sim")}
    assert payloads == {"warm", "new name"}
