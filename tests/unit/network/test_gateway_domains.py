"""Routing domains at the gateway: the Access-Accept's Cellplane-Routing-Domain puts a session's packets into that
domain's TUN, and the downlink finds sessions by address within one domain only, so two private networks can use
the same addresses. A domain's TUN is stood in for by a datagram socket pair (one packet per read, like a TUN):
the namespaces themselves are the e2e tests' (tests/e2e/test_data_plane.py)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest

from cellplane.protocols.gtp import Cause
from cellplane.protocols.ipv4 import build_udp, parse_udp
from tests.unit.network.gateway_support import Stack, Verdict, eventually, running_stack

SHARED = "10.10.0.5"  # both networks gave their device this address
RED, BLUE = ("8988307000000000031", "310410000000031"), ("8988307000000000049", "310410000000049")


async def recv(sock: socket.socket, timeout: float = 2.0) -> bytes:
    """One packet the gateway wrote into a domain (the loop keeps running meanwhile)."""
    return await asyncio.wait_for(asyncio.get_running_loop().sock_recv(sock, 2048), timeout)


@pytest.fixture
async def stack() -> AsyncIterator[tuple[Stack, dict[str, socket.socket]]]:
    async with running_stack() as running:
        tuns: dict[str, socket.socket] = {}
        for name in ("red", "blue"):
            ours, gateways = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
            gateways.setblocking(False)
            ours.setblocking(False)
            tuns[name] = ours
            running.gateway.add_domain(name, gateways.detach())
        for (iccid, imsi), domain in ((RED, "red"), (BLUE, "blue")):
            running.aaa.verdicts[imsi] = Verdict(address=SHARED, domain=domain)
            device = await running.emulator.power_on(iccid, mcc="310", mnc="410", imsi=imsi)
            assert device.state == "attached", device
        yield running, tuns
        for name in ("red", "blue"):
            running.gateway.remove_domain(name)
            tuns[name].close()


async def test_each_session_uses_its_own_domain_with_the_same_address(
    stack: tuple[Stack, dict[str, socket.socket]],
) -> None:
    running, tuns = stack
    assert running.emulator.send_udp(RED[0], 5000, "192.0.2.1", 53, b"from red")
    packet = await recv(tuns["red"])
    datagram = parse_udp(packet)
    assert (datagram.src, bytes(datagram.payload)) == (SHARED, b"from red")
    with pytest.raises(TimeoutError):
        await recv(tuns["blue"], 0.2)

    # Downlink to the shared address, written into blue's TUN, reaches blue's device only, and is its usage.
    reply = build_udp("192.0.2.1", SHARED, 53, 5000, b"to blue")
    tuns["blue"].send(reply)
    await eventually(lambda: running.emulator.device(BLUE[0]).usage["down_bytes"] == len(reply))
    assert running.emulator.device(RED[0]).usage["down_bytes"] == 0
    blue = running.gateway.domains["blue"].sessions
    [session] = blue.values()
    assert (session.imsi, session.domain, session.down_octets) == (BLUE[1], "blue", len(reply))


async def test_a_domain_the_gateway_does_not_have_refuses_the_attach(
    stack: tuple[Stack, dict[str, socket.socket]],
) -> None:
    running, _ = stack
    running.aaa.verdicts["310410000000057"] = Verdict(address="10.10.0.9", domain="green")
    device = await running.emulator.power_on("8988307000000000056", mcc="310", mnc="410", imsi="310410000000057")
    assert (device.state, device.gtp_cause) == ("rejected", Cause.NO_RESOURCES_AVAILABLE)
    assert device.reason == "routing domain green is not available"


async def test_removing_a_domain_ends_its_sessions(stack: tuple[Stack, dict[str, socket.socket]]) -> None:
    running, _ = stack
    running.gateway.remove_domain("red")
    await eventually(lambda: running.emulator.device(RED[0]).state == "detached")
    assert running.emulator.device(BLUE[0]).state == "attached"
