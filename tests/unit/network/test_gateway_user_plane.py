"""Gateway user plane: exact usage of inner IP packets, IP Commands both ways, GTP-U path management."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from cellplane.network.gateway import Session
from cellplane.protocols.gtp.gtpu import (
    GtpuType,
    encode_echo_request,
    encode_gpdu,
    parse_error_indication,
    parse_gtpu_full,
)
from cellplane.protocols.ipv4 import build_udp
from tests.unit.network.gateway_support import Stack, eventually, first, peer, running_stack

ICCID = "8988307000000000021"
IMSI = "310410000000021"
MoRecord = tuple[str, int, int, bytes]


@pytest.fixture
async def stack() -> AsyncIterator[Stack]:
    async with running_stack() as running:
        await running.emulator.power_on(ICCID, mcc="310", mnc="410", imsi=IMSI)
        yield running


def record_mo(stack: Stack) -> list[MoRecord]:
    seen: list[MoRecord] = []

    def hook(session: Session, src_port: int, dst_port: int, payload: bytes) -> None:
        seen.append((session.imsi, src_port, dst_port, payload))

    stack.gateway.on_mo_datagram = hook
    return seen


async def test_usage_is_exactly_the_inner_ip_octets_generated(stack: Stack) -> None:
    """GIVEN traffic of 100,000 octets up and 250,001 down, THEN the gateway counts exactly those octets of inner
    IP packets (tunnel headers excluded), the device counts the same, and an Interim-Update reports them."""
    counted = await stack.emulator.traffic(ICCID, up=100_000, down=250_001)
    session = stack.gateway.session(IMSI)
    assert session is not None
    assert (session.up_octets, session.down_octets) == (100_000, 250_001)
    assert counted["up_bytes"] == 100_000 and counted["down_bytes"] == 250_001
    assert (session.up_packets, session.down_packets) == (counted["up_packets"], counted["down_packets"])
    assert session.up_packets == 72  # ceil(100000 / 1400): the fewest packets that fit
    assert await stack.gateway.report_usage(IMSI) == 1
    [interim] = stack.aaa.records("Interim-Update")
    assert (first(interim, "Acct-Input-Octets"), first(interim, "Acct-Output-Octets")) == (100_000, 250_001)
    assert (first(interim, "Acct-Input-Gigawords"), first(interim, "Acct-Output-Gigawords")) == (0, 0)
    assert first(interim, "Acct-Input-Packets") == 72


async def test_uplink_to_100_64_0_1_is_an_ip_command_and_the_rest_is_dropped(stack: Stack) -> None:
    seen = record_mo(stack)
    assert stack.emulator.send_udp(ICCID, 5000, "100.64.0.1", 6655, b"temperature=21.5")
    assert stack.emulator.send_udp(ICCID, 5000, "192.0.2.10", 53, b"not for us")
    await eventually(lambda: stack.gateway.user_plane.stats.dropped_uplink and seen)
    assert seen == [(IMSI, 5000, 6655, b"temperature=21.5")]
    assert stack.gateway.user_plane.stats.mo_datagrams == 1
    assert stack.gateway.user_plane.stats.dropped_uplink == 1
    session = stack.gateway.session(IMSI)
    assert session is not None and session.up_packets == 2  # both count as usage


async def test_an_ip_command_with_a_foreign_source_address_is_refused(stack: Stack) -> None:
    seen = record_mo(stack)
    session = stack.gateway.session(IMSI)
    assert session is not None
    spoofed = build_udp("10.99.99.99", "100.64.0.1", 1, 2, b"forged")
    async with peer() as sgw:
        sgw.send(encode_gpdu(session.user_teid, spoofed), stack.gateway.gtpu_address)
        sgw.send(encode_gpdu(session.user_teid, spoofed[:-1] + b"X"), stack.gateway.gtpu_address)  # bad checksum
        sgw.send(encode_echo_request(1), stack.gateway.gtpu_address)
        assert await sgw.next() is not None  # the echo answer: both G-PDUs were handled before it
    assert seen == []
    assert stack.gateway.user_plane.stats.spoofed == 1 and stack.gateway.user_plane.stats.malformed == 1


async def test_send_to_device_delivers_a_udp_datagram_from_100_64_0_1(stack: Stack) -> None:
    await stack.emulator.open_app(ICCID, 5683, "log")
    assert stack.gateway.send_to_device(IMSI, 4000, 5683, b"\x01\x02binary")
    assert not stack.gateway.send_to_device("310410999999999", 4000, 5683, b"nobody")
    await eventually(lambda: stack.emulator.datagrams(ICCID, 5683))
    [datagram] = stack.emulator.datagrams(ICCID, 5683)
    assert (datagram.src, datagram.src_port, datagram.dst_port, datagram.payload) == (
        "100.64.0.1",
        4000,
        5683,
        b"\x01\x02binary",
    )
    session = stack.gateway.session(IMSI)
    assert session is not None and session.down_octets == 28 + 8 and session.down_packets == 1


async def test_an_echo_app_answers_an_ip_command_with_an_ip_command(stack: Stack) -> None:
    seen = record_mo(stack)
    await stack.emulator.open_app(ICCID, 7, "echo")
    stack.gateway.send_to_device(IMSI, 6060, 7, b"ping")
    await eventually(lambda: seen)
    assert seen == [(IMSI, 7, 6060, b"ping")]


async def test_a_g_pdu_for_an_unknown_tunnel_gets_an_error_indication(stack: Stack) -> None:
    async with peer() as sgw:
        sgw.send(encode_gpdu(0xDEAD, build_udp("10.0.0.1", "198.51.100.1", 1, 9, b"x")), stack.gateway.gtpu_address)
        answer = await sgw.next()
        sgw.send(encode_echo_request(0x1234), stack.gateway.gtpu_address)
        echo = await sgw.next()
    assert answer is not None and echo is not None
    indication = parse_error_indication(parse_gtpu_full(answer))
    assert (indication.teid, indication.peer, indication.udp_port) == (0xDEAD, "127.0.0.1", sgw.port)
    reply = parse_gtpu_full(echo)
    assert (reply.msg_type, reply.seq) == (GtpuType.ECHO_RESPONSE, 0x1234)


async def test_an_sgw_that_lost_the_tunnel_ends_the_session(stack: Stack) -> None:
    """GIVEN the SGW forgets the device's tunnel, WHEN downlink arrives, THEN it sends an Error Indication and
    the gateway ends the session with Acct-Terminate-Cause Lost-Service (TS 23.007 §20)."""
    device = stack.emulator.radio.by_user_teid.popitem()[1]  # the SGW loses its context
    assert device.iccid == ICCID
    assert stack.gateway.send_to_device(IMSI, 1, 2, b"anyone?")
    [stop] = await stack.aaa.wait_accounting("Stop")
    assert first(stop, "Acct-Terminate-Cause") == "Lost-Service"
    assert stack.gateway.session(IMSI) is None


async def test_interim_updates_come_by_themselves_every_interval() -> None:
    async with running_stack(gateway_changes={"interim_interval": 0.3}) as stack:
        await stack.emulator.power_on(ICCID, mcc="310", mnc="410", imsi=IMSI)
        await stack.emulator.traffic(ICCID, up=700)
        interims = await stack.aaa.wait_accounting("Interim-Update", 2, timeout=3)
        assert [first(interim, "Acct-Input-Octets") for interim in interims[:2]] == [700, 700]
