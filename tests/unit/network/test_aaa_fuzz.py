"""Hostile input (hypothesis) against the running AAA: random datagrams, mutated packets and correctly
authenticated packets full of random attributes never crash or wedge it; a valid request is answered after."""

from __future__ import annotations

import asyncio
import hashlib
import socket

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyrad import packet as pyrad_packet

from cellplane.network.aaa import metrics
from tests.unit.network.conftest import SECRET, StartAaa, pgw_for
from tests.unit.network.world import World

ATTRIBUTE = st.tuples(st.integers(1, 255), st.binary(max_size=40))
VSA_3GPP = st.tuples(st.just(26), st.builds(lambda sub: b"\x00\x00\x28\xaf" + sub, st.binary(max_size=30)))
IMSI_VALUES = st.sampled_from([b"901530000000001", b"", b"\x00" * 15, "9015300000é".encode(), b"\xff\xfe"])


def tlvs(attributes: list[tuple[int, bytes]]) -> bytes:
    return b"".join(bytes((kind, len(value) + 2)) + value for kind, value in attributes)


def signed(code: int, identifier: int, body: bytes) -> bytes:
    """A packet that passes authentication: accounting gets its computed Request Authenticator (RFC 2866 §3);
    an Access-Request without Message-Authenticator is accepted on its random one."""
    header = bytes((code, identifier)) + (20 + len(body)).to_bytes(2)
    authenticator = hashlib.md5(header + bytes(16) + body + SECRET).digest() if code == 4 else bytes(range(16))
    return header + authenticator + body


@st.composite
def authenticated(draw: st.DrawFn) -> bytes:
    code = draw(st.sampled_from([1, 4, 4, 12, 40, 255]))
    attributes = draw(st.lists(st.one_of(ATTRIBUTE, VSA_3GPP), max_size=12))
    if draw(st.booleans()):
        attributes.append((40, draw(st.integers(0, 20)).to_bytes(4)))  # Acct-Status-Type
        attributes.append((44, draw(st.binary(min_size=1, max_size=70))))  # Acct-Session-Id, even overlong
        attributes.append((1, draw(IMSI_VALUES)))
    body = tlvs(attributes)[:4000]
    return signed(code, draw(st.integers(0, 255)), body)


def mutated(valid: bytes) -> st.SearchStrategy[bytes]:
    def mutate(data: bytes, flips: list[tuple[int, int]], cut: int, extra: bytes) -> bytes:
        out = bytearray(data)
        for at, value in flips:
            out[at % len(out)] = value
        return bytes(out[: max(0, len(out) - cut)]) + extra

    return st.builds(
        mutate,
        st.just(valid),
        st.lists(st.tuples(st.integers(0, 4096), st.integers(0, 255)), max_size=6),
        st.integers(0, 30),
        st.binary(max_size=20),
    )


async def test_random_and_mutated_packets_never_crash_the_server(world: World, start_aaa: StartAaa) -> None:
    sim = await world.sim("active")
    aaa = await start_aaa()
    pgw = pgw_for(aaa)
    valid_access = pgw.access_request(sim.imsi).RequestPacket()
    valid_accounting = pgw.accounting_request(3, sim.imsi, "fuzz", up=10).RequestPacket()
    dropped_before = metrics.dropped("malformed")
    packets = st.one_of(st.binary(max_size=300), mutated(valid_access), mutated(valid_accounting), authenticated())

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))

    @settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(packet=packets, to_accounting=st.booleans())
    def fire(packet: bytes, to_accounting: bool) -> None:
        sock.sendto(packet, aaa.acct_address if to_accounting else aaa.auth_address)

    try:
        await asyncio.to_thread(fire)
    finally:
        sock.close()
    await asyncio.sleep(0.5)  # let the server chew through its queue and the writer through its batches

    assert metrics.dropped("malformed") > dropped_before
    assert aaa.writer._task is not None and not aaa.writer._task.done()
    assert (await pgw.aaccess(sim.imsi)).code == pyrad_packet.AccessAccept
    assert (await pgw.aaccounting(3, sim.imsi, "after-fuzz", up=5)).code == pyrad_packet.AccountingResponse
