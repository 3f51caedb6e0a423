"""Emulated devices against the real gateway: attach, idle and paging, eDRX with and without HLCOM, roaming,
detach, power off and reset, each seen from both sides (device state and the gateway's sessions/accounting)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from cellplane.emulator import Emulator, EmulatorConfig, SimRecord, UnknownDevice
from tests.unit.network.gateway_support import Stack, eventually, first, running_stack

ICCID = "8988307000000000041"
IMSI = "310410000000041"
PORT = 5683


@pytest.fixture
async def stack() -> AsyncIterator[Stack]:
    async with running_stack(emulator_changes={"paging_delay": 0.05}) as running:
        await running.emulator.power_on(ICCID, mcc="310", mnc="410", imsi=IMSI)
        await running.emulator.open_app(ICCID, PORT, "log")
        yield running


def payloads(stack: Stack) -> list[bytes]:
    return [datagram.payload for datagram in stack.emulator.datagrams(ICCID, PORT)]


async def test_an_idle_device_is_paged_and_receives_downlink(stack: Stack) -> None:
    """GIVEN an idle device, WHEN downlink arrives, THEN the network holds it, pages the device, and delivers it
    once the device answers (TS 23.401 §5.3.4.3); the gateway kept the session all along."""
    device = await stack.emulator.set_state(ICCID, "idle")
    assert device.state == "idle" and stack.gateway.session(IMSI) is not None
    stack.gateway.send_to_device(IMSI, 4000, PORT, b"wake up")
    await eventually(lambda: stack.emulator.device(ICCID).usage["buffered_packets"] == 1)
    assert payloads(stack) == [] and stack.emulator.device(ICCID).state == "idle"  # paging takes a moment
    await stack.emulator.wait_for(ICCID, "attached")
    await eventually(lambda: payloads(stack))
    assert payloads(stack) == [b"wake up"]


async def test_edrx_with_hlcom_buffers_until_the_device_wakes(stack: Stack) -> None:
    stack.emulator.configure_network("310", "410", hlcom=True)
    await stack.emulator.set_state(ICCID, "edrx")
    stack.gateway.send_to_device(IMSI, 4000, PORT, b"held for you")
    await eventually(lambda: stack.emulator.device(ICCID).usage["buffered_packets"] == 1)
    assert stack.emulator.device(ICCID).state == "edrx" and payloads(stack) == []  # no paging in eDRX
    device = await stack.emulator.set_state(ICCID, "attached")  # the eDRX cycle ends
    assert device.state == "attached" and payloads(stack) == [b"held for you"]
    assert device.usage["down_packets"] == 1 and device.usage["dropped_packets"] == 0


async def test_edrx_without_hlcom_loses_downlink(stack: Stack) -> None:
    stack.emulator.configure_network("310", "410", hlcom=False)
    await stack.emulator.set_state(ICCID, "edrx")
    assert stack.gateway.send_to_device(IMSI, 4000, PORT, b"lost")  # the gateway did send it
    await eventually(lambda: stack.emulator.device(ICCID).usage["dropped_packets"] == 1)
    device = await stack.emulator.set_state(ICCID, "attached")
    assert payloads(stack) == [] and device.usage["down_packets"] == 0
    session = stack.gateway.session(IMSI)
    assert session is not None and session.down_packets == 1  # counted where it was sent, as a real PGW does


async def test_uplink_wakes_a_sleeping_device(stack: Stack) -> None:
    await stack.emulator.set_state(ICCID, "edrx")
    counted = await stack.emulator.traffic(ICCID, up=500)
    assert counted["up_bytes"] == 500 and stack.emulator.device(ICCID).state == "attached"


async def test_roaming_ends_the_session_here_and_opens_one_there(stack: Stack) -> None:
    old = stack.gateway.session(IMSI)
    assert old is not None
    device = await stack.emulator.roam(ICCID, mcc="208", mnc="01", rat="NB-IoT")
    assert (device.state, device.network, device.rat) == ("attached", "208-01", "NB-IoT")
    new = stack.gateway.session(IMSI)
    assert new is not None and new is not old and new.mcc_mnc == "20801"
    assert first(stack.aaa.access[-1], "3GPP-SGSN-MCC-MNC") == "20801"
    [stop] = await stack.aaa.wait_accounting("Stop")
    assert first(stop, "Acct-Session-Id") == old.acct_session_id
    starts = await stack.aaa.wait_accounting("Start", 2)
    assert first(starts[-1], "Acct-Session-Id") == new.acct_session_id


async def test_set_state_with_another_network_is_a_roam(stack: Stack) -> None:
    device = await stack.emulator.set_state(ICCID, "attached", mcc="234", mnc="15")
    assert device.network == "234-15" and device.state == "attached"
    assert len(stack.aaa.access) == 2


async def test_detach_and_attach_again(stack: Stack) -> None:
    device = await stack.emulator.set_state(ICCID, "detached")
    assert device.state == "detached" and device.session is None and stack.gateway.session(IMSI) is None
    device = await stack.emulator.set_state(ICCID, "attached")
    assert device.state == "attached" and stack.gateway.session(IMSI) is not None


async def test_power_off_and_reset_leave_nothing_behind(stack: Stack) -> None:
    await stack.emulator.power_on("8988307000000000042", mcc="310", mnc="410", imsi="310410000000042")
    assert len(stack.gateway.sessions) == 2
    await stack.emulator.power_off(ICCID)
    with pytest.raises(UnknownDevice):
        stack.emulator.device(ICCID)
    assert [d.iccid for d in stack.emulator.devices()] == ["8988307000000000042"]
    await stack.emulator.reset()
    assert stack.emulator.devices() == [] and len(stack.gateway.sessions) == 0
    assert len(await stack.aaa.wait_accounting("Stop", 2)) == 2


async def test_the_imsi_comes_from_the_sim_lookup() -> None:
    async with running_stack() as stack:

        async def lookup(iccid: str) -> SimRecord | None:
            return SimRecord(iccid, "310410000000043", "15550000043") if iccid.endswith("43") else None

        emulator = Emulator(
            EmulatorConfig(
                gateway_gtpc_port=stack.gateway.gtpc_address[1], gateway_gtpu_port=stack.gateway.gtpu_address[1]
            ),
            sim_lookup=lookup,
        )
        await emulator.start()
        try:
            device = await emulator.power_on("8988307000000000043", mcc="310", mnc="410")
            assert (device.imsi, device.msisdn, device.state) == ("310410000000043", "15550000043", "attached")
            assert first(stack.aaa.access[0], "Calling-Station-Id") == "15550000043"
            with pytest.raises(UnknownDevice):
                await emulator.power_on("8988307000000000044", mcc="310", mnc="410")
        finally:
            await emulator.stop()
