"""`cellplane device bridge` against the running platform, with real UDP sockets on 127.0.0.1: IP Commands sent with
the twilio SDK arrive byte for byte at --deliver-to, and a datagram sent to --listen becomes an IP Command from the
SIM. The bridge is its own process with its own emulated device, reaching the platform only over GTP (and its admin
API for the IMSI and the fleet's networks), as device developers run it.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cellplane.domain.networks import catalogue
from tests.conftest import Account
from tests.support.network import EMULATOR, UK, UK_SID, USA, USA_SID, Process, eventually, make_fleet, make_sim
from tests.support.server import Server, free_port, server_env

DEVICE_PORT = 6000


@pytest.fixture
def host_socket() -> Iterator[socket.socket]:
    """Where the device's firmware-side code would listen: a plain UDP socket."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(10)
    try:
        yield sock
    finally:
        sock.close()


def test_the_bridge_carries_ip_commands_both_ways(account: Account, server: Server, host_socket: socket.socket) -> None:
    sim = make_sim(account, make_fleet(account, [USA, UK]))
    listen = free_port(socket.SOCK_DGRAM)
    deliver_to = host_socket.getsockname()[1]
    bridge = Process(
        [
            "device",
            "bridge",
            "--iccid",
            sim.iccid,
            "--deliver-to",
            f"127.0.0.1:{deliver_to}",
            "--listen",
            f"127.0.0.1:{listen}",
            "--device-port",
            str(DEVICE_PORT),
            "--platform",
            server.base_url,
        ],
        server,
    )
    try:
        attached = bridge.wait_for("attached on")
        # By default the device attaches to the first network of the fleet's profile, as the API lists them.
        first = catalogue().get(min(USA_SID, UK_SID))
        assert first is not None and f"attached on {first.key}" in attached
        client = account.client()

        client.supersim.v1.ip_commands.create(sim=sim.sid, payload="hello device", device_port=DEVICE_PORT)
        text, sender = host_socket.recvfrom(2048)
        binary = bytes(range(256)) * 5  # 1280 octets, every byte value
        client.supersim.v1.ip_commands.create(
            sim=sim.sid,
            payload=base64.b64encode(binary).decode(),
            payload_type="binary",
            device_port=DEVICE_PORT,
        )
        received, _ = host_socket.recvfrom(2048)

        assert text == b"hello device" and received == binary
        assert sender == ("127.0.0.1", listen)  # firmware answers where commands come from: up the tunnel

        host_socket.sendto(b"\x00reading=42\xff", ("127.0.0.1", listen))

        def from_sim() -> list[Any]:
            return list(client.supersim.v1.ip_commands.list(sim=sim.sid, direction="from_sim"))

        [command] = eventually(from_sim, lambda found: len(found) == 1)
        assert (command.status, command.device_port, command.payload_type) == ("received", DEVICE_PORT, "binary")
        assert base64.b64decode(command.payload) == b"\x00reading=42\xff"
        assert bridge.interrupt() == 0
        assert f"device {sim.iccid} detached" in bridge.output
    finally:
        bridge.close()


def test_the_bridge_attaches_on_the_network_and_with_the_imei_it_is_given(
    account: Account, server: Server, host_socket: socket.socket
) -> None:
    sim = make_sim(account, make_fleet(account, [USA, UK]))
    # Not the default (the profile's first network): the one the developer names.
    default = catalogue().get(min(USA_SID, UK_SID))
    assert default is not None
    chosen, chosen_sid = (UK, UK_SID) if default.key == USA else (USA, USA_SID)
    imei = "353456789012348"  # 15 digits, the last a valid Luhn check digit
    bridge = Process(
        [
            "device",
            "bridge",
            "--iccid",
            sim.iccid,
            "--deliver-to",
            f"127.0.0.1:{host_socket.getsockname()[1]}",
            "--device-port",
            str(DEVICE_PORT),
            "--network",
            chosen,
            "--imei",
            imei,
            "--platform",
            server.base_url,
        ],
        server,
    )
    try:
        assert f"attached on {chosen} as " in bridge.wait_for("attached on")
        client = account.client()
        command = client.supersim.v1.ip_commands.create(sim=sim.sid, payload="which network?", device_port=DEVICE_PORT)
        assert host_socket.recvfrom(2048)[0] == b"which network?"
        http = account.http()

        def events() -> list[dict[str, Any]]:
            body = http.get("/cellplane/v1/ConnectionEvents", params={"Sim": sim.sid}).json()
            return list(body["connection_events"])

        seen = eventually(
            events, lambda found: {"attach_accepted", "session_started"} <= {e["event_type"] for e in found}
        )
        # Both the attach and the data session the gateway opened name that network and the IMEI the device gave.
        mcc, mnc = chosen.split("-")
        assert {(e["network_sid"], e["mcc"], e["mnc"], e["imei"]) for e in seen} == {(chosen_sid, mcc, mnc, imei)}
        [started] = [e for e in seen if e["event_type"] == "session_started"]
        sent = eventually(lambda: client.supersim.v1.ip_commands(command.sid).fetch(), lambda c: c.status == "sent")
        assert sent.status == "sent" and sent.device_ip == started["ip_address"]
        assert bridge.interrupt() == 0
    finally:
        bridge.close()


def test_the_bridge_names_what_is_missing(account: Account, server: Server, host_socket: socket.socket) -> None:
    sim = make_sim(account, None, None)  # claimed, in no fleet
    bridge = Process(
        ["device", "bridge", "--iccid", sim.iccid, "--deliver-to", "127.0.0.1:9", "--platform", server.base_url],
        server,
    )
    try:
        assert bridge.popen.wait(60) == 2
        assert "give --network" in bridge.output
    finally:
        bridge.close()


@pytest.fixture
def own_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A platform of this test's own, which it may restart (SQLite; the restart keeps its ports)."""
    data_dir = tmp_path_factory.mktemp("bridge-restart")
    server = Server("sqlite", data_dir, free_port(), server_env(data_dir, None))
    server.start()
    try:
        yield server
    finally:
        server.stop()


def commands_reach(client: Any, sim_sid: str, host_socket: socket.socket, timeout: float = 30.0) -> bytes:
    """Send IP Commands until one arrives at the host socket (each failed one is 83400: no session yet)."""
    deadline = time.monotonic() + timeout
    host_socket.settimeout(0.5)
    attempt = 0
    while time.monotonic() < deadline:
        attempt += 1
        client.supersim.v1.ip_commands.create(sim=sim_sid, payload=f"try {attempt}", device_port=DEVICE_PORT)
        with contextlib.suppress(TimeoutError):
            return host_socket.recvfrom(2048)[0]
    raise AssertionError(f"no IP Command reached the bridge in {timeout} s ({attempt} sent)")


def test_the_bridge_attaches_again_after_a_platform_restart(own_server: Server, host_socket: socket.socket) -> None:
    created = own_server.admin("create-account", "--friendly-name", "bridge-restart")
    account = Account(created["account_sid"], created["auth_token"], own_server)
    sim = make_sim(account, make_fleet(account, [USA]))
    bridge = Process(
        [
            "device",
            "bridge",
            "--iccid",
            sim.iccid,
            "--deliver-to",
            f"127.0.0.1:{host_socket.getsockname()[1]}",
            "--device-port",
            str(DEVICE_PORT),
            "--platform",
            own_server.base_url,
        ],
        own_server,
    )
    try:
        bridge.wait_for("attached on")
        assert commands_reach(account.client(), sim.sid, host_socket) == b"try 1"

        own_server.stop()
        own_server.start()

        lost = bridge.wait_for("lost its session", timeout=30)
        assert "the gateway restarted" in lost or "path failure" in lost
        assert commands_reach(account.client(), sim.sid, host_socket).startswith(b"try ")
        attached = [line for line in bridge.lines if "attached on" in line]
        assert len(attached) >= 2  # it said so when it attached again
    finally:
        bridge.close()


@pytest.fixture
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("bridge-demo")
    env = server_env(data_dir, None)
    del env["CELLPLANE_ADMIN_TOKEN"]  # as `make up`: the operator token is made into the data directory
    server = Server("sqlite", data_dir, free_port(), env, extra_args=["--demo"])
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_the_bridge_takes_a_demo_sim_over_from_the_in_process_device_also_after_a_restart(
    demo: Server, host_socket: socket.socket, tmp_path: Path
) -> None:
    """Found through --data-dir alone (token and ports from there, no CELLPLANE_* variable), from another folder."""
    seeded = json.loads((demo.data_dir / "demo.json").read_text())
    account = Account(seeded["account_sid"], seeded["auth_token"], demo)
    iccid = next(s["iccid"] for s in seeded["sims"] if s["unique_name"] == "demo-sim-1")
    http = account.http()

    def devices() -> dict[str, str]:
        return {d["iccid"]: d["state"] for d in http.get(f"{EMULATOR}/Devices").json()["devices"]}

    eventually(devices, lambda found: found.get(iccid) == "attached")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CELLPLANE_")}
    bridge = Process(
        [
            "device",
            "bridge",
            "--iccid",
            iccid,
            "--deliver-to",
            f"127.0.0.1:{host_socket.getsockname()[1]}",
            "--data-dir",
            str(demo.data_dir),
        ],
        demo,
        env=env,
        cwd=tmp_path,
    )
    try:
        bridge.wait_for("attached on")
        assert "powered off there, handed over" in bridge.output
        assert iccid not in devices()  # the in-process device is off: one device on the IMSI
        assert commands_reach(account.client(), "demo-sim-1", host_socket) == b"try 1"

        # A restart powers the demo's devices on again: the bridge notices, takes the SIM again, commands reach it.
        demo.stop()
        demo.start()
        bridge.wait_for("lost its session")
        assert commands_reach(account.client(), "demo-sim-1", host_socket).startswith(b"try ")
        others = eventually(devices, lambda found: len(found) == 4)
        assert iccid not in others, bridge.output  # the in-process device stays off while the bridge holds the SIM
        assert bridge.interrupt() == 0
    finally:
        bridge.close()
