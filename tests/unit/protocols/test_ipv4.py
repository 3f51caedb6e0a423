"""IPv4/UDP codec: RFC 1071/791/768 checksum vectors, validation, scapy agreement, hypothesis fuzzing."""

from __future__ import annotations

import logging

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scapy.config import conf
from scapy.layers.inet import ICMP, IP, UDP

from cellplane.protocols.ipv4 import (
    PROTO_ICMP,
    PROTO_UDP,
    Ipv4Error,
    build_ipv4,
    build_udp,
    internet_checksum,
    parse_ipv4,
    parse_udp,
)

conf.verb = 0
logging.getLogger("scapy").setLevel(logging.ERROR)  # scapy logs route guesses; noise here, never a failure

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
addresses = st.ip_addresses(v=4).map(str)
ports = st.integers(0, 0xFFFF)


def with_octet(data: bytes, index: int, value: int) -> bytes:
    return data[:index] + bytes((value,)) + data[index + 1 :]


# --- checksum vectors --------------------------------------------------------------------------------------------


def test_rfc_1071_example() -> None:
    """RFC 1071 §3: the words 0001 f203 f4f5 f6f7 sum to ddf2 (carries folded); the checksum is its complement."""
    assert internet_checksum(bytes.fromhex("0001f203f4f5f6f7")) == 0xFFFF - 0xDDF2


def test_well_known_ipv4_header_checksum() -> None:
    """The classic 192.168.0.1 -> 192.168.0.199 header (total length 0x73, DF, TTL 64, UDP) sums to b861."""
    header = bytes.fromhex("450000730000400040110000c0a80001c0a800c7")
    assert internet_checksum(header) == 0xB861
    assert internet_checksum(header[:10] + bytes.fromhex("b861") + header[12:]) == 0  # verifies


def test_odd_length_is_padded_with_a_zero_octet() -> None:
    assert internet_checksum(b"\x01\x02\x03") == internet_checksum(b"\x01\x02\x03\x00")


# --- build, parse, and scapy's opinion --------------------------------------------------------------------------


def test_build_udp_layout_and_round_trip() -> None:
    packet = build_udp("10.64.0.7", "100.64.0.1", 40000, 4000, b"hello", ttl=33, ident=0x1234)
    assert packet[0] == 0x45 and packet[8] == 33 and packet[9] == PROTO_UDP and len(packet) == 20 + 8 + 5
    datagram = parse_udp(packet)
    assert (datagram.src, datagram.dst, datagram.sport, datagram.dport) == ("10.64.0.7", "100.64.0.1", 40000, 4000)
    assert bytes(datagram.payload) == b"hello"
    header = parse_ipv4(packet)
    assert (header.ttl, header.ident, header.protocol, header.more_fragments) == (33, 0x1234, PROTO_UDP, False)


def test_scapy_computes_the_same_checksums() -> None:
    packet = build_udp("10.64.0.7", "100.64.0.1", 40000, 4000, b"odd-length payload!")
    scapy = IP(packet)
    ours = (scapy.chksum, scapy[UDP].chksum)
    del scapy.chksum
    del scapy[UDP].chksum
    rebuilt = IP(bytes(scapy))
    assert (rebuilt.chksum, rebuilt[UDP].chksum) == ours
    assert bytes(rebuilt) == packet


def test_we_read_what_scapy_builds() -> None:
    packet = bytes(IP(src="192.0.2.1", dst="10.64.0.7", ttl=5, id=99) / UDP(sport=4000, dport=40000) / b"cmd")
    datagram = parse_udp(packet)
    assert (datagram.src, datagram.dst, datagram.sport, datagram.dport, bytes(datagram.payload)) == (
        "192.0.2.1",
        "10.64.0.7",
        4000,
        40000,
        b"cmd",
    )


def test_ip_options_are_skipped() -> None:
    packet = bytes(IP(src="10.0.0.1", dst="10.0.0.2", options=b"\x01\x01\x01\x00") / UDP(sport=1, dport=2) / b"o")
    assert packet[0] == 0x46 and bytes(parse_udp(packet).payload) == b"o"


def test_udp_checksum_that_computes_to_zero_is_sent_as_all_ones() -> None:
    """RFC 768: a computed 0 is transmitted as 0xFFFF, since 0 means "no checksum"."""
    probe = build_udp("10.0.0.1", "10.0.0.2", 1, 2, b"\x00\x00")
    # A 2-octet payload is one 16-bit word of the sum. The checksum of the zero payload is the complement
    # of the sum without that word, so sending it as the payload makes the sum all ones: checksum 0.
    packet = build_udp("10.0.0.1", "10.0.0.2", 1, 2, probe[26:28])
    assert packet[26:28] == b"\xff\xff"
    assert parse_udp(packet).sport == 1
    assert IP(packet)[UDP].chksum == 0xFFFF
    scapy = IP(packet)
    del scapy[UDP].chksum
    assert IP(bytes(scapy))[UDP].chksum == 0xFFFF


def test_zero_udp_checksum_means_none() -> None:
    packet = build_udp("10.0.0.1", "10.0.0.2", 1, 2, b"data")
    unchecked = packet[:26] + b"\x00\x00" + packet[28:]
    assert bytes(parse_udp(unchecked).payload) == b"data"


def test_trailing_link_padding_is_ignored() -> None:
    packet = build_udp("10.0.0.1", "10.0.0.2", 1, 2, b"x")
    assert bytes(parse_udp(packet + b"\x00" * 6).payload) == b"x"


def test_other_protocols_parse_as_ipv4_only() -> None:
    icmp = bytes(IP(src="10.0.0.1", dst="10.0.0.2") / ICMP())
    assert parse_ipv4(icmp).protocol == PROTO_ICMP
    with pytest.raises(Ipv4Error, match="not UDP"):
        parse_udp(icmp)
    assert parse_ipv4(build_ipv4("10.0.0.1", "10.0.0.2", PROTO_ICMP, bytes(ICMP()))).payload == bytes(ICMP())


# --- validation -------------------------------------------------------------------------------------------------

GOOD = build_udp("10.0.0.1", "10.0.0.2", 1000, 2000, b"payload")


@pytest.mark.parametrize(
    ("packet", "reason"),
    [
        (GOOD[:19], "too short"),
        (with_octet(GOOD, 0, 0x65), "version"),
        (with_octet(GOOD, 0, 0x44), "IHL"),
        (GOOD[:-1], "Total Length"),
        (with_octet(GOOD, 3, 10), "Total Length"),  # shorter than the header
        (with_octet(GOOD, 12, 11), "header checksum"),
        (with_octet(GOOD, len(GOOD) - 1, ord("X")), "UDP checksum"),
    ],
)
def test_bad_packets_are_refused(packet: bytes, reason: str) -> None:
    with pytest.raises(Ipv4Error, match=reason):
        parse_udp(packet)


def test_fragments_and_bad_udp_lengths_are_refused() -> None:
    fragment = bytes(IP(src="10.0.0.1", dst="10.0.0.2", flags="MF") / UDP(sport=1, dport=2) / b"part")
    with pytest.raises(Ipv4Error, match="fragment"):
        parse_udp(fragment)
    assert parse_ipv4(fragment).more_fragments
    for length in (7, 8 + 7 + 1):  # below the header; beyond the IP payload
        bad = bytes(IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=1, dport=2, len=length, chksum=0) / b"payload")
        with pytest.raises(Ipv4Error, match="UDP Length"):
            parse_udp(bad)


@pytest.mark.parametrize(
    "build",
    [
        lambda: build_udp("10.0.0", "10.0.0.2", 1, 2, b""),
        lambda: build_udp("127.1", "10.0.0.2", 1, 2, b""),
        lambda: build_udp("10.0.0.1", "::1", 1, 2, b""),
        lambda: build_udp("10.0.0.1", "10.0.0.2", 70000, 2, b""),
        lambda: build_udp("10.0.0.1", "10.0.0.2", 1, 2, bytes(0xFFFF)),
        lambda: build_ipv4("10.0.0.1", "10.0.0.2", 256, b""),
    ],
)
def test_unbuildable_packets_raise_ipv4_error(build: object) -> None:
    with pytest.raises(Ipv4Error):
        build()  # type: ignore[operator]


# --- properties --------------------------------------------------------------------------------------------------


@FUZZ
@given(src=addresses, dst=addresses, sport=ports, dport=ports, payload=st.binary(max_size=1500))
def test_round_trip_property(src: str, dst: str, sport: int, dport: int, payload: bytes) -> None:
    datagram = parse_udp(build_udp(src, dst, sport, dport, payload))
    assert (datagram.src, datagram.dst, datagram.sport, datagram.dport, bytes(datagram.payload)) == (
        src,
        dst,
        sport,
        dport,
        payload,
    )


@settings(max_examples=60, deadline=None)
@given(src=addresses, dst=addresses, payload=st.binary(max_size=600))
def test_scapy_agrees_on_random_packets(src: str, dst: str, payload: bytes) -> None:
    packet = build_udp(src, dst, 1234, 5678, payload)
    scapy = IP(packet)
    del scapy.chksum
    del scapy[UDP].chksum
    assert bytes(scapy) == packet


@FUZZ
@given(data=st.binary(max_size=80))
def test_arbitrary_bytes_raise_only_ipv4_error(data: bytes) -> None:
    for parse in (parse_ipv4, parse_udp):
        try:
            parse(data)
        except Ipv4Error:
            pass


@FUZZ
@given(data=st.data())
def test_corrupted_packets_raise_only_ipv4_error(data: st.DataObject) -> None:
    packet = bytearray(GOOD)
    for _ in range(data.draw(st.integers(1, 4))):
        packet[data.draw(st.integers(0, len(packet) - 1))] = data.draw(st.integers(0, 255))
    packet = packet[: data.draw(st.integers(0, len(packet)))]
    try:
        parse_udp(bytes(packet))
    except Ipv4Error:
        pass
