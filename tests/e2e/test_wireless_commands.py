"""Wireless Commands end to end through the official SDK's client.wireless: the real platform with its SMS center,
gateway and emulated radio network in-process, devices driven through `/cellplane/v1/Emulator`, and a real webhook
receiver that checks every signature.

To the SIM: a text Command goes as SMS into the device's inbox (with its sid, IncludeSid) and is `delivered` with
one callback; without a receipt requested it stays `sent`; a binary Command goes over IP as one datagram to the
device's port 30000, or with Transport=sms as one 8-bit data SMS whose bytes reach the inbox exactly; a device
that is off makes either fail. From the SIM: an SMS (text, or 8-bit data) to the Commands number and a datagram
to 100.64.0.1 become `received` Commands posted to the Sim's commands_callback_url. Refusals carry the Wireless
codes (33101, 33104, 33201) and write nothing.

The platform here answers attaches through a stand-in third-party AAA (RADIUS on 127.0.0.1 that admits every
SIM), as a deployment with its own AAA would: what is under test is the commands path, not the attach policy.
"""

from __future__ import annotations

import base64
import ipaddress
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client
from twilio.rest.wireless.v1.command import CommandInstance

from cellplane.domain.wireless_commands import DEVICE_PORT
from cellplane.protocols.radius import Code, build_response, decode
from tests.conftest import Account
from tests.e2e.test_wireless_sims import check, provision, wait_for_status
from tests.support.network import EMULATOR, USA, Devices, eventually
from tests.support.server import (
    Server,
    create_postgres_database,
    drop_postgres_database,
    free_port,
    postgres_available,
    server_env,
)
from tests.support.webhooks import WebhookReceiver

SECRET = b"cellplane"
PARAMETERS = {"AccountSid", "CommandSid", "SimSid", "SimUniqueName", "Command", "CommandMode", "Transport", "Status"}
_RUNNING: dict[str, Server] = {}


class StandInAaa:
    """RADIUS auth and accounting on 127.0.0.1 that admit every SIM with an address of 10.99.0.0/16."""

    def __init__(self) -> None:
        self.sockets = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2)]
        for sock in self.sockets:
            sock.bind(("127.0.0.1", 0))
            threading.Thread(target=self._serve, args=(sock,), daemon=True).start()
        self.addresses = ipaddress.ip_network("10.99.0.0/16").hosts()

    @property
    def ports(self) -> tuple[int, int]:
        auth, acct = (sock.getsockname()[1] for sock in self.sockets)
        return auth, acct

    def _serve(self, sock: socket.socket) -> None:
        while True:
            try:
                data, peer = sock.recvfrom(4096)
            except OSError:
                return  # closed
            request = decode(data)
            if request.code == Code.ACCESS_REQUEST:
                answer = build_response(
                    request, Code.ACCESS_ACCEPT, [("Framed-IP-Address", str(next(self.addresses)))], SECRET
                )
            else:
                answer = build_response(request, Code.ACCOUNTING_RESPONSE, [], SECRET)
            sock.sendto(answer, peer)

    def close(self) -> None:
        for sock in self.sockets:
            sock.close()


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def commands_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The platform with the emulated network in-process and the stand-in AAA, one per backend."""
    backend: str = request.param
    if backend not in _RUNNING:
        database_url = None
        if backend == "postgres":
            reason = postgres_available()
            if reason:
                pytest.skip(reason)
            database_url = create_postgres_database()
        aaa = StandInAaa()
        auth, acct = aaa.ports
        data_dir = tmp_path_factory.mktemp(f"wireless-commands-{backend}")
        env = server_env(
            data_dir,
            database_url,
            CELLPLANE_EMULATOR_ENABLED="true",
            CELLPLANE_AAA_ENABLED="false",
            CELLPLANE_AAA_AUTH_PORT=str(auth),
            CELLPLANE_AAA_ACCT_PORT=str(acct),
        )
        server = Server(backend=backend, data_dir=data_dir, port=free_port(), env=env)
        server.start()
        _RUNNING[backend] = server

        def stop() -> None:
            server.stop()
            aaa.close()
            if database_url:
                drop_postgres_database(database_url)

        request.config.add_cleanup(stop)
    yield _RUNNING[backend]


@pytest.fixture
def owner(commands_server: Server) -> Account:
    created = commands_server.admin("create-account", "--friendly-name", "wireless-commands")
    return Account(created["account_sid"], created["auth_token"], commands_server)


@pytest.fixture
def receiver(owner: Account) -> Iterator[WebhookReceiver]:
    hook = WebhookReceiver(auth_token=owner.token).start()
    yield hook
    hook.stop()


def active_sim(
    account: Account, *, plan: dict[str, Any] | None = None, status: str = "active", **settings: Any
) -> dict[str, Any]:
    """A Wireless SIM of the account with a rate plan of its own (`plan`: its settings), named, in `status`;
    `settings` are more Sim updates (commands_callback_url ...)."""
    client = account.client()
    rate_plan = client.wireless.v1.rate_plans.create(**(plan or {}))
    [sim] = provision(account)
    unique_name = f"meter-{sim['sid'][-6:]}"
    client.wireless.v1.sims(sim["sid"]).update(
        rate_plan=rate_plan.sid, status=status, unique_name=unique_name, **settings
    )
    wait_for_status(client, sim["sid"], status)
    return {**sim, "unique_name": unique_name}


def command_in(account: Account, sid: str, wanted: str) -> dict[str, Any]:
    http = account.http()
    body: dict[str, Any] = eventually(
        lambda: http.get(f"/wireless/v1/Commands/{sid}").json(), lambda c: c.get("status") == wanted
    )
    assert body["status"] == wanted, body
    return check("wireless.v1.command", body)


def inbox(account: Account, iccid: str) -> list[dict[str, Any]]:
    response = account.http().get(f"{EMULATOR}/Devices/{iccid}/Sms")
    assert response.status_code == 200, response.text
    messages: list[dict[str, Any]] = response.json()["messages"]
    return messages


def create_over_sms(client: Client, **params: str) -> CommandInstance:
    """POST /Commands through the SDK's own Wireless v1 client with `Transport=sms`, cellplane's extension that
    CommandList.create has no argument for (params in the API's UpperCamelCase)."""
    version = client.wireless.v1
    return CommandInstance(version, version.create(method="POST", uri="/Commands", data={"Transport": "sms", **params}))


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def refused(call: Callable[[], Any]) -> TwilioRestException:
    with pytest.raises(TwilioRestException) as caught:
        call()
    return caught.value


def test_a_text_command_goes_as_sms_with_its_sid_and_is_delivered_with_one_callback(
    owner: Account, receiver: WebhookReceiver
) -> None:
    client = owner.client()
    sim = active_sim(owner)
    Devices(owner).attach(sim["iccid"], USA)

    command = client.wireless.v1.commands.create(
        command="wakeup: report now",
        sim=sim["unique_name"],
        include_sid="start",
        callback_url=f"{receiver.url}/done",
        callback_method="POST",
    )

    assert (command.status, command.direction, command.transport, command.command_mode) == (
        "queued",
        "to_sim",
        "sms",
        "text",
    )
    assert command.sid.startswith("DC") and command.sim_sid == sim["sid"] and command.account_sid == owner.sid
    assert command.delivery_receipt_requested is True and command.command == "wakeup: report now"
    assert command.url == f"{owner.server.base_url}/wireless/v1/Commands/{command.sid}"
    delivered = command_in(owner, command.sid, "delivered")
    assert delivered["date_updated"] >= delivered["date_created"]
    [sms] = inbox(owner, sim["iccid"])
    assert (sms["body"], sms["from"]) == (f"{command.sid} wakeup: report now", "000")
    [hook] = receiver.wait_for(lambda got: len(got) >= 1)
    assert hook.twilio_signature_valid and hook.kore_signature_valid and hook.path == "/done"
    assert set(hook.params) >= PARAMETERS and "ErrorCode" not in hook.params
    assert (hook.params["CommandSid"], hook.params["Status"], hook.params["Transport"]) == (
        command.sid,
        "delivered",
        "sms",
    )
    assert hook.params["SimUniqueName"] == sim["unique_name"] and hook.params["Direction"] == "to_sim"
    # List with every filter of the spec, and fetch.
    assert [c.sid for c in client.wireless.v1.commands.list(sim=sim["sid"], status="delivered")] == [command.sid]
    assert [c.sid for c in client.wireless.v1.commands.list(sim=sim["unique_name"], transport="sms")] == [command.sid]
    assert client.wireless.v1.commands.list(direction="from_sim") == []
    assert client.wireless.v1.commands.list(transport="ip") == []
    assert client.wireless.v1.commands.list(sim="no-such-sim") == []
    assert client.wireless.v1.commands(command.sid).fetch().status == "delivered"
    assert len(receiver.received) == 1  # called back once: when it finished sending


def test_without_a_receipt_a_command_stays_sent(owner: Account, receiver: WebhookReceiver) -> None:
    client = owner.client()
    sim = active_sim(owner)
    Devices(owner).attach(sim["iccid"], USA)

    command = client.wireless.v1.commands.create(
        command="ping",
        sim=sim["sid"],
        include_sid="end",
        delivery_receipt_requested=False,
        callback_url=receiver.url,
        callback_method="GET",
    )

    assert command.delivery_receipt_requested is False
    command_in(owner, command.sid, "sent")
    assert [m["body"] for m in inbox(owner, sim["iccid"])] == [f"ping {command.sid}"]
    [hook] = receiver.wait_for(lambda got: len(got) >= 1)
    assert hook.method == "GET" and hook.twilio_signature_valid and hook.params["Status"] == "sent"
    assert hook.params["DeliveryReceiptRequested"] == "false"


def test_binary_and_ip_commands_reach_the_device_port_as_one_datagram(
    owner: Account, receiver: WebhookReceiver
) -> None:
    client = owner.client()
    sim = active_sim(owner)
    devices = Devices(owner)
    devices.attach(sim["iccid"], USA)
    apps = f"{EMULATOR}/Devices/{sim['iccid']}/Apps"
    assert devices.http.post(apps, data={"DevicePort": str(DEVICE_PORT), "App": "log"}).status_code == 201
    data = bytes(range(256)) * 4  # every byte value

    binary = client.wireless.v1.commands.create(
        command=base64.b64encode(data).decode(), sim=sim["sid"], command_mode="binary", callback_url=receiver.url
    )
    text = owner.http().post(
        "/wireless/v1/Commands",
        data={"Sim": sim["sid"], "Command": "reboot", "Transport": "ip", "IncludeSid": "end"},
    )

    assert (binary.transport, binary.command_mode) == ("ip", "binary")  # the spec's pairing: binary goes over IP
    assert text.status_code == 201 and check("wireless.v1.command", text.json())["transport"] == "ip"
    command_in(owner, binary.sid, "sent")
    command_in(owner, text.json()["sid"], "sent")
    logged = eventually(
        lambda: devices.http.get(f"{apps}/{DEVICE_PORT}/Datagrams").json()["datagrams"], lambda got: len(got) >= 2
    )
    received = {
        base64.b64decode(d["payload"]) if d["payload_type"] == "binary" else d["payload"].encode() for d in logged
    }
    assert received == {data, f"reboot {text.json()['sid']}".encode()}
    assert {d["source_ip"] for d in logged} == {"100.64.0.1"}
    [hook] = receiver.wait_for(lambda got: len(got) >= 1)
    assert (hook.params["Status"], hook.params["Transport"], hook.params["CommandMode"]) == ("sent", "ip", "binary")
    assert hook.twilio_signature_valid and hook.params["Command"] == base64.b64encode(data).decode()
    assert [c.sid for c in client.wireless.v1.commands.list(transport="ip", status="sent")] == sorted(
        [binary.sid, text.json()["sid"]], reverse=True
    )


def test_a_binary_command_over_sms_reaches_the_inbox_byte_exact_as_8bit_data(
    owner: Account, receiver: WebhookReceiver
) -> None:
    client = owner.client()
    sim = active_sim(owner)
    Devices(owner).attach(sim["iccid"], USA)
    # Bytes a text SMS could not carry: NUL, the GSM escape 0x1B, CR/LF, 0x80-0xFF; 105 of them plus the sid and a
    # space make 140, one SMS's user data exactly.
    data = bytes([0x00, 0x1B, 0x0D, 0x0A, 0xFF, 0x80]) + bytes(range(1, 256, 3))[:99]
    full = bytes(range(140))  # 140 bytes without a sid: the limit

    command = create_over_sms(
        client,
        Command=b64(data),
        Sim=sim["unique_name"],
        CommandMode="binary",
        IncludeSid="start",
        CallbackUrl=f"{receiver.url}/bin",
    )
    unreceipted = create_over_sms(
        client, Command=b64(full), Sim=sim["sid"], CommandMode="binary", DeliveryReceiptRequested="false"
    )

    assert (command.status, command.transport, command.command_mode, command.direction) == (
        "queued",
        "sms",
        "binary",
        "to_sim",
    )
    assert command.command == b64(data) and command.sid.startswith("DC") and command.sim_sid == sim["sid"]
    delivered = command_in(owner, command.sid, "delivered")
    assert (delivered["transport"], delivered["command_mode"], delivered["command"]) == ("sms", "binary", b64(data))
    command_in(owner, unreceipted.sid, "sent")
    messages = eventually(lambda: inbox(owner, sim["iccid"]), lambda got: len(got) >= 2)
    by_body = {base64.b64decode(m["body"]): m for m in messages}
    assert set(by_body) == {command.sid.encode() + b" " + data, full}
    for message in messages:
        assert (message["body_type"], message["alphabet"], message["data_coding"]) == ("binary", "8bit", 4)
        assert (message["from"], message["status"]) == ("000", "received")
    [hook] = receiver.wait_for(lambda got: len(got) >= 1)
    assert hook.twilio_signature_valid and hook.kore_signature_valid and hook.path == "/bin"
    assert (hook.params["CommandSid"], hook.params["Status"], hook.params["Transport"]) == (
        command.sid,
        "delivered",
        "sms",
    )
    assert (hook.params["CommandMode"], hook.params["Command"]) == ("binary", b64(data))
    listed = client.wireless.v1.commands.list(sim=sim["sid"], transport="sms")
    assert {(c.sid, c.command_mode) for c in listed} == {(command.sid, "binary"), (unreceipted.sid, "binary")}
    # Text is as it was: one GSM 7-bit SMS, its DCS 0.
    text = client.wireless.v1.commands.create(command="ping", sim=sim["sid"])
    command_in(owner, text.sid, "delivered")
    latest = eventually(lambda: inbox(owner, sim["iccid"]), lambda got: len(got) >= 3)[-1]
    assert (latest["body"], latest["body_type"], latest["alphabet"], latest["data_coding"]) == (
        "ping",
        "text",
        "gsm7",
        0,
    )


def test_8bit_data_from_the_sim_is_a_binary_command_at_its_commands_callback_url(
    owner: Account, receiver: WebhookReceiver
) -> None:
    client = owner.client()
    sim = active_sim(owner, commands_callback_url=f"{receiver.url}/mo")
    devices = Devices(owner)
    devices.attach(sim["iccid"], USA)
    data = bytes([0xFF, 0x00, 0x1B, 0x41]) + bytes(range(136))  # 140 bytes, one SMS of 8-bit data

    sent = devices.http.post(f"{EMULATOR}/Devices/{sim['iccid']}/Sms", data={"Body": b64(data), "BodyType": "binary"})
    too_long = devices.http.post(
        f"{EMULATOR}/Devices/{sim['iccid']}/Sms", data={"Body": b64(bytes(141)), "BodyType": "binary"}
    )
    not_base64 = devices.http.post(
        f"{EMULATOR}/Devices/{sim['iccid']}/Sms", data={"Body": "not base64!", "BodyType": "binary"}
    )
    bad_type = devices.http.post(f"{EMULATOR}/Devices/{sim['iccid']}/Sms", data={"Body": "x", "BodyType": "pdu"})

    assert sent.status_code == 201, sent.text
    assert (sent.json()["status"], sent.json()["body"], sent.json()["data_coding"]) == ("accepted", b64(data), 4)
    for answer, parameter in ((too_long, "Body"), (not_base64, "Body"), (bad_type, "BodyType")):
        assert answer.status_code == 400 and parameter in answer.json()["message"], answer.text
    [hook] = receiver.wait_for(lambda got: len(got) >= 1)
    assert hook.twilio_signature_valid and hook.path == "/mo"
    assert (hook.params["Status"], hook.params["Direction"], hook.params["Transport"]) == (
        "received",
        "from_sim",
        "sms",
    )
    assert (hook.params["CommandMode"], base64.b64decode(hook.params["Command"])) == ("binary", data)
    [listed] = client.wireless.v1.commands.list(direction="from_sim")
    assert (listed.sid, listed.command_mode, listed.transport) == (hook.params["CommandSid"], "binary", "sms")
    assert base64.b64decode(listed.command) == data
    [mine] = devices.http.get(f"{EMULATOR}/Devices/{sim['iccid']}/Sms", params={"Direction": "from_sim"}).json()[
        "messages"
    ]
    assert (mine["body_type"], mine["alphabet"], base64.b64decode(mine["body"])) == ("binary", "8bit", data)


def test_commands_from_the_sim_reach_its_commands_callback_url(owner: Account, receiver: WebhookReceiver) -> None:
    client = owner.client()
    sim = active_sim(owner, commands_callback_url=f"{receiver.url}/mo", commands_callback_method="POST")
    devices = Devices(owner)
    devices.attach(sim["iccid"], USA)

    sms = devices.http.post(f"{EMULATOR}/Devices/{sim['iccid']}/Sms", data={"Body": "temp=21.5"})
    datagram = devices.http.post(
        f"{EMULATOR}/Devices/{sim['iccid']}/Datagrams", data={"SourcePort": "4000", "Payload": "battery=87"}
    )

    assert sms.status_code == 201 and sms.json()["status"] == "accepted"
    assert datagram.status_code == 201
    hooks = receiver.wait_for(lambda got: len(got) >= 2)
    by_transport = {hook.params["Transport"]: hook for hook in hooks}
    assert set(by_transport) == {"sms", "ip"}
    for hook in hooks:
        assert hook.twilio_signature_valid and hook.kore_signature_valid and hook.path == "/mo"
        assert (hook.params["Status"], hook.params["Direction"], hook.params["SimSid"]) == (
            "received",
            "from_sim",
            sim["sid"],
        )
    assert (by_transport["sms"].params["Command"], by_transport["sms"].params["CommandMode"]) == ("temp=21.5", "text")
    assert by_transport["ip"].params["Command"] == base64.b64encode(b"battery=87").decode()
    assert by_transport["ip"].params["CommandMode"] == "binary"
    listed = client.wireless.v1.commands.list(direction="from_sim", status="received")
    assert {(c.sid, c.transport) for c in listed} == {(h.params["CommandSid"], t) for t, h in by_transport.items()}
    fetched = command_in(owner, by_transport["sms"].params["CommandSid"], "received")
    assert (fetched["command"], fetched["delivery_receipt_requested"]) == ("temp=21.5", False)


def test_an_sms_from_a_sim_whose_plan_has_messaging_disabled_is_refused(owner: Account) -> None:
    sim = active_sim(owner, plan={"messaging_enabled": False})
    devices = Devices(owner)
    devices.attach(sim["iccid"], USA)

    sent = devices.http.post(f"{EMULATOR}/Devices/{sim['iccid']}/Sms", data={"Body": "hello?"})

    assert (sent.json()["status"], sent.json()["rp_cause"]) == ("refused", 50)  # TS 24.011: not subscribed
    assert owner.client().wireless.v1.commands.list() == []


def test_commands_to_a_device_that_is_off_fail_with_an_error(owner: Account, receiver: WebhookReceiver) -> None:
    client = owner.client()
    sim = active_sim(owner)

    over_sms = client.wireless.v1.commands.create(command="are you there?", sim=sim["sid"], callback_url=receiver.url)
    over_ip = client.wireless.v1.commands.create(
        command="AAEC", command_mode="binary", sim=sim["sid"], callback_url=receiver.url
    )

    command_in(owner, over_sms.sid, "failed")
    command_in(owner, over_ip.sid, "failed")
    hooks = {hook.params["Transport"]: hook.params for hook in receiver.wait_for(lambda got: len(got) >= 2)}
    assert hooks["sms"]["ErrorCode"] == "89100" and "not attached" in hooks["sms"]["ErrorMessage"]
    assert hooks["ip"]["ErrorCode"] == "83400" and "not attached" in hooks["ip"]["ErrorMessage"]
    assert all(params["Status"] == "failed" for params in hooks.values())
    assert {c.sid for c in client.wireless.v1.commands.list(status="failed")} == {over_sms.sid, over_ip.sid}


def test_delete_removes_a_command(owner: Account) -> None:
    client = owner.client()
    sim = active_sim(owner)
    command = client.wireless.v1.commands.create(command="bye", sim=sim["sid"])

    assert client.wireless.v1.commands(command.sid).delete() is True

    assert refused(lambda: client.wireless.v1.commands(command.sid).fetch()).status == 404
    assert client.wireless.v1.commands.list() == []
    assert owner.http().delete(f"/wireless/v1/Commands/{command.sid}").status_code == 404


def test_refusals_carry_wireless_codes_and_write_nothing(account: Account) -> None:
    client = account.client()
    create = client.wireless.v1.commands.create
    sim = active_sim(account)["sid"]
    ready = active_sim(account, status="ready")["sid"]
    silent = active_sim(account, plan={"messaging_enabled": False})["sid"]
    no_data = active_sim(account, plan={"data_enabled": False})["sid"]
    suspended = active_sim(account, status="suspended")["sid"]
    [new] = provision(account)

    for key in (new["sid"], suspended):  # no rate plan; not ready or active
        error = refused(lambda key=key: create(command="x", sim=key))
        assert (error.status, error.code) == (400, 33104), (key, error.msg)
    error = refused(lambda: create(command="x", sim=silent))
    assert (error.status, error.code) == (403, 33201) and "messaging" in error.msg
    error = refused(lambda: create(command="AAEC", command_mode="binary", sim=no_data))
    assert (error.status, error.code) == (403, 33201) and "data" in error.msg
    for key in ("DE" + "0" * 32, "no-such-sim", "HS" + "0" * 32):
        error = refused(lambda key=key: create(command="x", sim=key))
        assert (error.status, error.code) == (404, 20404), key
    cases: list[tuple[dict[str, Any], str]] = [
        ({"command": "x" * 161}, "Command"),
        ({"command": "x" * 126, "include_sid": "start"}, "Command"),  # 126 + a space + 34 > 160
        ({"command": "°" * 71}, "Command"),  # UCS-2: 70 at most
        ({"command": "not base64!", "command_mode": "binary"}, "Command"),
        ({"command": base64.b64encode(bytes(1301)).decode(), "command_mode": "binary"}, "Command"),
        ({"command": "x", "command_mode": "pdu"}, "CommandMode"),
        ({"command": "x", "include_sid": "middle"}, "IncludeSid"),
    ]
    for params, parameter in cases:
        error = refused(lambda params=params: create(sim=sim, **params))
        assert (error.status, error.code) == (400, 33101) and parameter in error.msg, (params, error.msg)
    http = account.http()
    for form, parameter in (
        # One SMS carries 140 bytes of 8-bit data: 141, or 106 with the sid and a space, are too many.
        ({"Sim": sim, "Command": b64(bytes(141)), "CommandMode": "binary", "Transport": "sms"}, "Command"),
        (
            {"Sim": sim, "Command": b64(bytes(106)), "CommandMode": "binary", "Transport": "sms", "IncludeSid": "end"},
            "Command",
        ),
        ({"Sim": sim, "Command": "not base64!", "CommandMode": "binary", "Transport": "sms"}, "Command"),
        ({"Sim": sim, "Command": "x", "Transport": "fax"}, "Transport"),
        ({"Command": "x"}, "Sim"),
        ({"Sim": sim}, "Command"),
        ({"Sim": sim, "Command": "x", "CallbackMethod": "TRACE"}, "CallbackMethod"),
        ({"Sim": sim, "Command": "x", "DeliveryReceiptRequested": "maybe"}, "DeliveryReceiptRequested"),
    ):
        answer = http.post("/wireless/v1/Commands", data=form)
        assert answer.status_code == 400 and parameter in answer.json()["message"], (form, answer.text)
    error = refused(lambda: create_over_sms(client, Command=b64(bytes(141)), CommandMode="binary", Sim=sim))
    assert (error.status, error.code) == (400, 33101) and "141 bytes of 8-bit data" in error.msg
    assert "at most 140" in error.msg and "Command" in error.msg
    error = refused(lambda: create_over_sms(client, Command="AAEC", CommandMode="binary", Sim=silent))
    assert (error.status, error.code) == (403, 33201) and "messaging" in error.msg
    assert client.wireless.v1.commands.list() == []  # nothing was written
    # What fits goes: 125 characters and the sid, and a ready Sim.
    assert create(command="x" * 125, include_sid="end", sim=sim).status == "queued"
    assert create(command="x", sim=ready).status == "queued"
    assert create(command="AAEC", command_mode="binary", sim=silent).transport == "ip"  # IP needs data only
    over_sms = create_over_sms(client, Command=b64(bytes(105)), CommandMode="binary", IncludeSid="start", Sim=sim)
    assert (over_sms.status, over_sms.transport) == ("queued", "sms")  # 105 bytes, the sid and a space: 140
    for sid in ("DC" + "0" * 32, "not-a-sid"):
        assert refused(lambda sid=sid: client.wireless.v1.commands(sid).fetch()).status == 404
    assert http.get("/wireless/v1/Commands", params={"Status": "lost"}).status_code == 400
    assert http.get("/wireless/v1/Commands", params={"Transport": "fax"}).status_code == 400
