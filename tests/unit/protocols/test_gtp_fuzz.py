"""GTP codecs under hypothesis: arbitrary and mutated bytes raise only GtpError; random valid values round-trip."""

from __future__ import annotations

import struct

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cellplane.protocols.gtp import (
    Cause,
    CreateSessionRequest,
    CreateSessionResponse,
    DeleteBearerRequest,
    DeleteSessionRequest,
    EchoRequest,
    Fteid,
    GtpcMessage,
    GtpError,
    InterfaceType,
    MessageType,
    Plmn,
    UserLocation,
    decode,
)
from cellplane.protocols.gtp.gtpu import encode_error_indication, encode_gpdu, parse_error_indication, parse_gtpu_full
from cellplane.protocols.gtp.gtpu import parse_gtpu as parse_u
from cellplane.protocols.gtp.ies import IeType

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

digits = st.text("0123456789", min_size=1, max_size=15)
ipv4s = st.ip_addresses(v=4).map(str)
teids = st.integers(0, 0xFFFFFFFF)
labels = st.from_regex(r"[a-z0-9](?:[a-z0-9-]{0,8}[a-z0-9])?", fullmatch=True)
apns = st.lists(labels, min_size=1, max_size=4).map(".".join)
plmns = st.builds(
    Plmn, mcc=st.from_regex(r"[0-9]{3}", fullmatch=True), mnc=st.from_regex(r"[0-9]{2,3}", fullmatch=True)
)
locations = st.builds(UserLocation, plmn=plmns, tac=st.integers(0, 0xFFFF), eci=st.integers(0, 0x0FFFFFFF))


def fteids(interface: int) -> st.SearchStrategy[Fteid]:
    return st.builds(Fteid, interface=st.just(interface), teid=teids, ipv4=ipv4s)


requests = st.builds(
    CreateSessionRequest,
    seq=st.integers(0, 0xFFFFFF),
    imsi=st.text("0123456789", min_size=6, max_size=15),
    apn=apns,
    sender_fteid=fteids(InterfaceType.S5S8_SGW_GTPC),
    bearer_fteid=fteids(InterfaceType.S5S8_SGW_GTPU),
    ebi=st.integers(5, 15),
    msisdn=st.none() | digits,
    mei=st.none() | st.text("0123456789", min_size=15, max_size=16),
    serving_network=st.none() | plmns,
    uli=st.none() | locations,
    rat_type=st.integers(0, 255),
    paa_ipv4=st.none() | ipv4s,
    qci=st.integers(0, 255),
    arp_priority=st.integers(1, 15),
    recovery=st.none() | st.integers(0, 255),
)
responses = st.builds(
    CreateSessionResponse,
    seq=st.integers(0, 0xFFFFFF),
    teid=teids,
    cause=st.just(Cause.REQUEST_ACCEPTED),
    pgw_fteid=fteids(InterfaceType.S5S8_PGW_GTPC),
    bearer_fteid=fteids(InterfaceType.S5S8_PGW_GTPU),
    paa_ipv4=ipv4s,
) | st.builds(CreateSessionResponse, seq=st.integers(0, 0xFFFFFF), teid=teids, cause=st.integers(64, 255))


@FUZZ
@given(message=st.one_of(requests, responses))
def test_random_sessions_round_trip(message: GtpcMessage) -> None:
    assert decode(message.encode()) == message


@FUZZ
@given(data=st.binary(max_size=200))
def test_arbitrary_bytes_raise_only_gtp_error(data: bytes) -> None:
    try:
        decode(data)
    except GtpError:
        pass


def pack_ie(ie_type: int, instance: int, value: bytes) -> bytes:
    return struct.pack("!BHB", ie_type, len(value), instance) + value


# Well-framed IEs of the types our messages read, with random values: they reach every value decoder.
random_ies = st.builds(pack_ie, st.sampled_from([int(t) for t in IeType]), st.integers(0, 3), st.binary(max_size=24))
bearer_contexts = st.lists(random_ies, max_size=4).map(lambda ies: pack_ie(IeType.BEARER_CONTEXT, 0, b"".join(ies)))
ie_bodies = st.lists(random_ies | bearer_contexts, max_size=12).map(b"".join)


@FUZZ
@given(
    msg_type=st.sampled_from(list(MessageType)),
    body=st.binary(max_size=200) | ie_bodies,
    seq=st.integers(0, 0xFFFFFF),
)
def test_arbitrary_ies_behind_a_valid_header_raise_only_gtp_error(msg_type: int, body: bytes, seq: int) -> None:
    """A correct header gets random bytes past the header checks, into the IE and value decoders."""
    if msg_type in (MessageType.ECHO_REQUEST, MessageType.ECHO_RESPONSE):
        data = struct.pack("!BBH", 0x40, msg_type, 4 + len(body)) + seq.to_bytes(3, "big") + b"\x00" + body
    else:
        data = struct.pack("!BBHI", 0x48, msg_type, 8 + len(body), 1) + seq.to_bytes(3, "big") + b"\x00" + body
    try:
        decode(data)
    except GtpError as error:
        assert error.msg_type == msg_type and error.seq == seq


VALID = [
    CreateSessionRequest(
        seq=1,
        imsi="001010000000001",
        apn="iot",
        msisdn="15551234567",
        mei="3534900698733190",
        serving_network=Plmn("001", "01"),
        uli=UserLocation(Plmn("001", "01"), 1, 2),
        sender_fteid=Fteid(6, 1, "127.0.0.1"),
        bearer_fteid=Fteid(4, 2, "127.0.0.1"),
        recovery=1,
    ).encode(),
    CreateSessionResponse(
        seq=1,
        teid=1,
        cause=16,
        pgw_fteid=Fteid(7, 3, "127.0.0.1"),
        bearer_fteid=Fteid(5, 4, ipv6="::1"),
        paa_ipv4="10.0.0.1",
    ).encode(),
    DeleteSessionRequest(seq=2, teid=3, cause=2, uli=UserLocation(Plmn("001", "01"), 1, 2)).encode(),
    DeleteBearerRequest(seq=3, teid=4, ebis=(6,), cause=8).encode(),
    EchoRequest(seq=4, recovery=5).encode(),
]


@FUZZ
@given(data=st.data())
def test_mutated_messages_decode_or_raise_gtp_error(data: st.DataObject) -> None:
    message = bytearray(data.draw(st.sampled_from(VALID)))
    for _ in range(data.draw(st.integers(1, 6))):
        message[data.draw(st.integers(0, len(message) - 1))] = data.draw(st.integers(0, 255))
    message = message[: data.draw(st.integers(0, len(message)))]
    try:
        decode(bytes(message))
    except GtpError:
        pass


# --- GTP-U ------------------------------------------------------------------------------------------------------


@FUZZ
@given(teid=teids, payload=st.binary(max_size=1500))
def test_gpdu_round_trip(teid: int, payload: bytes) -> None:
    msg_type, got_teid, got = parse_u(encode_gpdu(teid, payload))
    assert (msg_type, got_teid, bytes(got)) == (255, teid, payload)


@FUZZ
@given(data=st.binary(max_size=64))
def test_arbitrary_gtpu_bytes_raise_only_gtp_error(data: bytes) -> None:
    try:
        parse_u(data)
        parse_error_indication(parse_gtpu_full(data))
    except GtpError:
        pass


@FUZZ
@given(flags=st.integers(0x30, 0x37), msg_type=st.integers(0, 255), body=st.binary(max_size=40))
def test_optional_fields_and_extensions_raise_only_gtp_error(flags: int, msg_type: int, body: bytes) -> None:
    """Valid version and length, random E/S/PN flags and contents: the extension-header walk must hold."""
    data = struct.pack("!BBHI", flags, msg_type, len(body), 0) + body
    try:
        packet = parse_gtpu_full(data)
        assert bytes(parse_u(data)[2]) == bytes(packet.payload)
        parse_error_indication(packet)
    except GtpError:
        pass


@FUZZ
@given(
    teid=teids,
    peer=ipv4s | st.ip_addresses(v=6).map(str),
    seq=st.integers(0, 0xFFFF),
    port=st.none() | st.integers(0, 0xFFFF),
)
def test_error_indication_round_trip(teid: int, peer: str, seq: int, port: int | None) -> None:
    packet = parse_gtpu_full(encode_error_indication(teid, peer, seq=seq, udp_port=port))
    assert packet.seq == seq
    assert parse_error_indication(packet) == (teid, peer, port)
