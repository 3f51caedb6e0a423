"""Device apps over real sockets: the bridge joins a device port to UDP sockets on the host, both ways."""

from __future__ import annotations

import pytest

from cellplane.emulator import InvalidValue
from cellplane.network.gateway import Session
from tests.unit.network.gateway_support import eventually, peer, running_stack

ICCID = "8988307000000000051"
IMSI = "310410000000051"


async def test_the_bridge_carries_ip_commands_both_ways() -> None:
    """GIVEN a bridge on device port 5683 delivering to a host socket, WHEN the platform sends an IP Command to
    that port, THEN the host socket gets the payload byte for byte; WHEN the host program sends to the bridge's
    own socket, THEN it reaches the gateway as an IP Command from the SIM (to 100.64.0.1, from port 5683)."""
    async with running_stack() as stack, peer() as device_code:
        await stack.emulator.power_on(ICCID, mcc="310", mnc="410", imsi=IMSI)
        bridge = await stack.emulator.open_app(ICCID, 5683, "bridge", deliver_to=("127.0.0.1", device_code.port))
        assert stack.emulator.device(ICCID).apps == {5683: "bridge"}
        mo: list[tuple[str, int, int, bytes]] = []

        def hook(session: Session, src_port: int, dst_port: int, payload: bytes) -> None:
            mo.append((session.imsi, src_port, dst_port, payload))

        stack.gateway.on_mo_datagram = hook
        payload = bytes(range(256)) * 4
        assert stack.gateway.send_to_device(IMSI, 4000, 5683, payload)
        assert await device_code.next() == payload
        device_code.send(b"reading=42", bridge["listen"])
        await eventually(lambda: mo)
        assert mo == [(IMSI, 5683, 5683, b"reading=42")]
        assert [d.payload for d in stack.emulator.datagrams(ICCID, 5683)] == [payload]
        stack.emulator.close_app(ICCID, 5683)
        assert stack.emulator.device(ICCID).apps == {}


async def test_app_requests_are_checked() -> None:
    async with running_stack() as stack:
        await stack.emulator.power_on(ICCID, mcc="310", mnc="410", imsi=IMSI)
        for port, kind, parameter in ((0, "echo", "DevicePort"), (70000, "log", "DevicePort"), (7, "ftp", "App")):
            with pytest.raises(InvalidValue) as caught:
                await stack.emulator.open_app(ICCID, port, kind)
            assert caught.value.parameter == parameter
        with pytest.raises(InvalidValue) as caught:
            await stack.emulator.open_app(ICCID, 7, "bridge")
        assert caught.value.parameter == "DeliverTo"
        with pytest.raises(InvalidValue):
            stack.emulator.datagrams(ICCID, 7)
