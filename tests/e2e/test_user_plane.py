"""The user plane end to end over real UDP on 127.0.0.1: the emulator (RAN/SGW + devices), the gateway, an AAA.

1. In one process: the real emulator and the real gateway, with a pyrad RADIUS server as the AAA peer. Every
   GTPv2-C and GTP-U datagram they send is captured at their sockets and decoded by scapy, an independent
   implementation: message fields, tunnel IDs, the inner IPv4/UDP packets and both of their checksums, and
   the usage the gateway reports adds up to exactly the inner octets that crossed the tunnel.
2. Against the real platform (`cellplane up`, its AAA and gateway): a SIM claimed and activated with the
   twilio SDK attaches from the emulator in this process, its traffic becomes usage records, deactivating it
   disconnects the live session, and a new attach is refused with the platform's code.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import pytest
from scapy.config import conf
from scapy.contrib import gtp as sgu
from scapy.contrib import gtp_v2 as sgc
from scapy.layers.inet import IP, UDP

from cellplane.emulator import Emulator, EmulatorConfig, SimRecord
from cellplane.network.gateway import Session
from tests.conftest import Account
from tests.support.server import Server
from tests.unit.network.gateway_support import Stack, eventually, first, running_stack

conf.verb = 0
logging.getLogger("scapy").setLevel(logging.ERROR)

ICCID = "8988307000000000061"
IMSI = "310260000000061"
T = TypeVar("T")


# --- 1. emulator + gateway + pyrad AAA, captured and decoded by scapy ----------------------------------------------


def checked_inner(gpdu: bytes) -> IP:
    """The inner packet of a G-PDU as scapy reads it, after proving its IPv4 and UDP checksums are right."""
    outer = sgu.GTP_U_Header(gpdu)
    assert (outer.version, outer.PT, outer.gtp_type, outer.length) == (1, 1, 255, len(gpdu) - 8)
    inner = outer[IP]
    assert inner.len == outer.length  # one whole IP packet per G-PDU
    rebuilt = inner.copy()
    del rebuilt.chksum
    if UDP in rebuilt:
        del rebuilt[UDP].chksum
    again = IP(bytes(rebuilt))
    assert again.chksum == inner.chksum, "IPv4 header checksum"
    if UDP in inner:
        assert inner[UDP].chksum != 0 and again[UDP].chksum == inner[UDP].chksum, "UDP checksum"
    return inner


def gtpc(data: bytes) -> sgc.GTPHeader:
    packet = sgc.GTPHeader(data)
    assert packet.version == 2 and packet.length == len(data) - 4
    return packet


def ies(packet: Any) -> dict[tuple[int, int], Any]:
    return {(ie.ietype, ie.instance): ie for ie in packet.IE_list}


async def test_captured_gtp_decodes_with_scapy_and_usage_adds_up() -> None:
    async with running_stack() as stack:
        mo: list[bytes] = []

        def hook(session: Session, src_port: int, dst_port: int, payload: bytes) -> None:
            mo.append(payload)

        stack.gateway.on_mo_datagram = hook
        device = await stack.emulator.power_on(ICCID, mcc="310", mnc="260", imsi=IMSI, imei="353490069873319")
        assert device.state == "attached"
        await stack.emulator.open_app(ICCID, 5683, "log")
        counted = await stack.emulator.traffic(ICCID, up=40_000, down=65_432)
        stack.gateway.send_to_device(IMSI, 4000, 5683, b"MT command")
        stack.emulator.send_udp(ICCID, 6000, "100.64.0.1", 6655, b"MO command")
        await eventually(lambda: mo and stack.emulator.datagrams(ICCID, 5683))
        session = stack.gateway.session(IMSI)
        assert session is not None
        await stack.emulator.set_state(ICCID, "detached")
        [stop] = await stack.aaa.wait_accounting("Stop")
        assert_control_plane(stack, session)
        assert_user_plane(stack, session, counted)
        # The AAA was told exactly what crossed the tunnel: traffic plus the two commands (28 + payload each).
        assert first(stop, "Acct-Input-Octets") == 40_000 + 28 + len(b"MO command")
        assert first(stop, "Acct-Output-Octets") == 65_432 + 28 + len(b"MT command")


def assert_control_plane(stack: Stack, session: Session) -> None:
    sent = [gtpc(data) for data in stack.capture.of("sgw-c")]
    answers = [gtpc(data) for data in stack.capture.of("pgw-c")]
    assert [p.gtp_type for p in sent] == [32, 36]  # Create Session, Delete Session Request
    assert [p.gtp_type for p in answers] == [33, 37]
    request = ies(sent[0][sgc.GTPV2CreateSessionRequest])
    assert (IMSI.encode(), b"353490069873319") == (request[(1, 0)].IMSI, request[(75, 0)].MEI)
    assert request[(82, 0)].RAT_type == 9  # LTE-M
    assert request[(255, 0)].enterprisenum == 32473  # our GTP-U port, in a Private Extension
    sgw_user = ies(request[(93, 0)])[(87, 2)]
    response = answers[0]
    assert response.seq == sent[0].seq and response.teid == request[(87, 0)].GRE_Key
    created = ies(response[sgc.GTPV2CreateSessionResponse])
    assert created[(2, 0)].Cause == 16 and created[(79, 0)].ipv4 == session.ue_ip
    assert created[(87, 1)].GRE_Key == session.control_teid and created[(87, 1)].InterfaceType == 7
    pgw_user = ies(created[(93, 0)])[(87, 2)]
    assert (pgw_user.GRE_Key, pgw_user.InterfaceType) == (session.user_teid, 5)
    assert sgw_user.GRE_Key == session.sgw_user_teid
    assert sent[1].teid == session.control_teid  # Delete Session goes to the PGW's control TEID
    assert ies(answers[1][sgc.GTPV2DeleteSessionResponse])[(2, 0)].Cause == 16


def assert_user_plane(stack: Stack, session: Session, counted: dict[str, int]) -> None:
    uplink = [checked_inner(d) for d in stack.capture.of("sgw-u")]
    downlink = [checked_inner(d) for d in stack.capture.of("pgw-u")]
    assert {sgu.GTP_U_Header(d).teid for d in stack.capture.of("sgw-u")} == {session.user_teid}
    assert {sgu.GTP_U_Header(d).teid for d in stack.capture.of("pgw-u")} == {session.sgw_user_teid}
    assert all(p.src == session.ue_ip for p in uplink) and all(p.dst == session.ue_ip for p in downlink)
    assert sum(p.len for p in uplink) == session.up_octets == counted["up_bytes"] + 38
    assert sum(p.len for p in downlink) == session.down_octets == counted["down_bytes"] + 38
    [mo] = [p for p in uplink if p.dst == "100.64.0.1"]
    assert (mo[UDP].sport, mo[UDP].dport, bytes(mo[UDP].payload)) == (6000, 6655, b"MO command")
    [mt] = [p for p in downlink if p.src == "100.64.0.1"]
    assert (mt[UDP].sport, mt[UDP].dport, bytes(mt[UDP].payload)) == (4000, 5683, b"MT command")


# --- 2. against the real platform ----------------------------------------------------------------------------------


class LoopThread:
    """An event loop in a thread, so that the synchronous twilio SDK and the async emulator share a test."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="emulator", daemon=True)
        self._thread.start()

    def run(self, work: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()


@pytest.fixture
def emulated(server: Server) -> Iterator[tuple[LoopThread, Emulator, dict[str, SimRecord]]]:
    sims: dict[str, SimRecord] = {}

    async def lookup(iccid: str) -> SimRecord | None:
        return sims.get(iccid)

    config = EmulatorConfig(
        gateway_gtpc_port=int(server.env["CELLPLANE_GTPC_PORT"]),
        gateway_gtpu_port=int(server.env["CELLPLANE_GTPU_PORT"]),
        t3=5.0,
        n3=0,
    )
    runner = LoopThread()
    emulator = Emulator(config, sim_lookup=lookup)
    runner.run(emulator.start())
    try:
        yield runner, emulator, sims
    finally:
        runner.run(emulator.stop())
        runner.close()


def wait_until(check: Any, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def test_a_sim_attaches_uses_data_and_is_disconnected_when_deactivated(
    account: Account, emulated: tuple[LoopThread, Emulator, dict[str, SimRecord]]
) -> None:
    runner, emulator, sims = emulated
    client = account.client()
    profile = client.supersim.v1.network_access_profiles.create(networks=["310-260"])
    fleet = client.supersim.v1.fleets.create(network_access_profile=profile.sid, data_enabled=True)
    [provisioned] = account.inventory(1)
    iccid = provisioned["iccid"]
    sims[iccid] = SimRecord(iccid, provisioned["imsi"])
    sim = client.supersim.v1.sims.create(iccid=iccid, registration_code=provisioned["registration_code"])
    client.supersim.v1.sims(sim.sid).update(fleet=fleet.sid, status="active")
    assert wait_until(lambda: client.supersim.v1.sims(sim.sid).fetch().status == "active")

    device = runner.run(emulator.power_on(iccid, mcc="310", mnc="260", rat="LTE-M"))
    # The AAA learns of the claim and the fleet within about a second (its policy cache polls the database), so
    # the first attempts may be refused as unknown (83701) or fleetless (83702); a modem retries.
    for _ in range(40):
        if device.state != "rejected" or device.code not in (83701, 83702):
            break
        time.sleep(0.25)
        device = runner.run(emulator.set_state(iccid, "attached"))
    if device.state == "rejected" and device.gtp_cause == 100:
        pytest.skip("the platform answers no RADIUS yet: its AAA (network/aaa) is not wired in the runtime")
    assert device.state == "attached", (device.reason, device.code, device.gtp_cause)
    counted = runner.run(emulator.traffic(iccid, up=12_345))
    assert counted["up_bytes"] == 12_345
    runner.run(emulator.set_state(iccid, "detached"))  # Accounting Stop carries the final usage

    def uploaded() -> int:
        records = client.supersim.v1.usage_records.list(sim=sim.sid, granularity="all")
        return sum(int(record.data_upload or 0) for record in records)

    assert wait_until(lambda: uploaded() == 12_345) and uploaded() == 12_345

    device = runner.run(emulator.set_state(iccid, "attached"))
    assert device.state == "attached" and device.session is not None
    # The platform shows the live session's address once the AAA has its Accounting Start.
    live = device.session["ip_address"]
    assert wait_until(
        lambda: [a.ip_address for a in client.supersim.v1.sims(sim.sid).sim_ip_addresses.list()] == [live]
    )
    client.supersim.v1.sims(sim.sid).update(status="inactive")
    assert wait_until(lambda: emulator.device(iccid).state == "detached"), "no Disconnect reached the session"
    assert emulator.device(iccid).reason == "disconnected by the network"
    device = runner.run(emulator.set_state(iccid, "attached"))
    assert (device.state, device.code) == ("rejected", 83705), device
