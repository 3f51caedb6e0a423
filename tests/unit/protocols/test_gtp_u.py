"""GTP-U codec: TS 29.281 header vectors, the G-PDU fast path, Echo and Error Indication, checked against scapy."""

from __future__ import annotations

import logging

import pytest
from scapy.config import conf
from scapy.contrib import gtp as sg
from scapy.layers.inet import IP, UDP

from cellplane.protocols.gtp import GtpError
from cellplane.protocols.gtp.gtpu import (
    ExtensionType,
    GtpuType,
    encode_echo_request,
    encode_echo_response,
    encode_error_indication,
    encode_gpdu,
    parse_error_indication,
    parse_gtpu,
    parse_gtpu_full,
)
from cellplane.protocols.ipv4 import build_udp, parse_udp

conf.verb = 0
logging.getLogger("scapy").setLevel(logging.ERROR)  # scapy logs route guesses; noise here, never a failure

INNER = build_udp("10.64.0.7", "100.64.0.1", 40000, 4000, b"temperature=21.5")


# --- TS 29.281 §5.1 header vectors -----------------------------------------------------------------------------


def test_gpdu_header_is_eight_octets_with_flags_0x30() -> None:
    """GIVEN a G-PDU, THEN octet 1 is 0x30 (version 1, PT=1, no E/S/PN), type 255, Length = T-PDU octets."""
    data = encode_gpdu(0x01020304, INNER)
    assert data[:8] == bytes.fromhex("30 ff") + len(INNER).to_bytes(2, "big") + bytes.fromhex("01020304")
    assert data[8:] == INNER


def test_echo_request_and_response_vectors() -> None:
    """Echo messages: S=1 (flags 0x32), TEID 0, Length counts the 4 optional octets (+ Recovery IE 14, value 0)."""
    assert encode_echo_request(0x1234) == bytes.fromhex("32 01 0004 00000000 1234 00 00")
    assert encode_echo_response(0x1234) == bytes.fromhex("32 02 0006 00000000 1234 00 00 0e 00")


def test_error_indication_vector() -> None:
    """Error Indication (§7.3.1): TEID Data I (type 16, TV) and GTP-U Peer Address (type 133, TLV)."""
    data = encode_error_indication(0xCAFEBABE, "127.0.0.1", seq=3)
    assert data == bytes.fromhex("32 1a 0010 00000000 0003 00 0010 cafebabe85 0004 7f000001")


# --- parse -----------------------------------------------------------------------------------------------------


def test_parse_gpdu_is_a_view_not_a_copy() -> None:
    data = bytearray(encode_gpdu(7, INNER))
    msg_type, teid, payload = parse_gtpu(data)
    assert (msg_type, teid, bytes(payload)) == (255, 7, INNER)
    data[-1] ^= 0xFF  # the payload is a window onto the datagram
    assert payload[-1] == data[-1]


def test_parse_full_reads_optional_fields_and_extensions() -> None:
    packet = parse_gtpu_full(encode_error_indication(9, "127.0.0.1", seq=77, udp_port=2152))
    assert (packet.msg_type, packet.teid, packet.seq, packet.npdu) == (GtpuType.ERROR_INDICATION, 0, 77, None)
    assert packet.extensions == ((ExtensionType.UDP_PORT, (2152).to_bytes(2, "big")),)
    assert parse_error_indication(packet) == (9, "127.0.0.1", 2152)


def test_error_indication_with_ipv6_peer() -> None:
    indication = parse_error_indication(parse_gtpu_full(encode_error_indication(1, "2001:db8::7")))
    assert indication.peer == "2001:db8::7" and indication.udp_port is None


@pytest.mark.parametrize(
    "data",
    [
        b"",
        bytes.fromhex("30ff0000000000"),  # 7 octets
        bytes.fromhex("30ff0001 00000001"),  # Length says 1, nothing follows
        bytes.fromhex("30ff0000 00000001 00"),  # an octet beyond Length
        bytes.fromhex("50ff0000 00000001"),  # version 2
        bytes.fromhex("20ff0000 00000001"),  # PT=0: GTP'
        bytes.fromhex("32ff0002 00000001 0000"),  # S=1 but Length leaves no room for the 4 optional octets
        bytes.fromhex("34ff0004 00000001 000000 85"),  # E=1, extension header missing
        bytes.fromhex("34ff0008 00000001 000000 85 00000000"),  # extension length 0
        bytes.fromhex("34ff0008 00000001 000000 85 02000000"),  # extension runs past the end
    ],
)
def test_malformed_headers_raise_gtp_error(data: bytes) -> None:
    with pytest.raises(GtpError):
        parse_gtpu(data)


@pytest.mark.parametrize(
    "payload",
    [
        b"",  # no IEs
        bytes.fromhex("10 00000001"),  # no peer address
        bytes.fromhex("10 00000001 85 0003 7f0000"),  # 3-octet address
        bytes.fromhex("10 00000001 85 0004 7f00"),  # runs past the end
        bytes.fromhex("07 00"),  # unknown TV IE: length unknowable
    ],
)
def test_malformed_error_indications(payload: bytes) -> None:
    data = bytes.fromhex("32 1a") + (4 + len(payload)).to_bytes(2, "big") + bytes(4) + bytes(4) + payload
    with pytest.raises(GtpError):
        parse_error_indication(parse_gtpu_full(data))


def test_encode_rejects_what_does_not_fit() -> None:
    with pytest.raises(GtpError):
        encode_gpdu(1 << 32, b"x")
    with pytest.raises(GtpError):
        encode_gpdu(1, bytes(0x10000))
    with pytest.raises(GtpError):
        encode_echo_request(0x10000)
    with pytest.raises(GtpError):
        encode_error_indication(1, "not-an-address")


# --- scapy as the other end ------------------------------------------------------------------------------------


def test_scapy_reads_our_gpdu_and_its_inner_packet() -> None:
    packet = sg.GTP_U_Header(encode_gpdu(0xA1B2C3D4, INNER))
    assert (packet.version, packet.PT, packet.E, packet.S, packet.PN) == (1, 1, 0, 0, 0)
    assert (packet.gtp_type, packet.teid, packet.length) == (255, 0xA1B2C3D4, len(INNER))
    inner = packet[IP]
    assert (inner.src, inner.dst, inner[UDP].sport, inner[UDP].dport) == ("10.64.0.7", "100.64.0.1", 40000, 4000)
    assert bytes(inner[UDP].payload) == b"temperature=21.5"


def test_we_read_scapy_gpdus_with_and_without_sequence_numbers() -> None:
    inner = IP(src="10.64.0.8", dst="100.64.0.1") / UDP(sport=1, dport=2) / b"ping"
    for header in (sg.GTP_U_Header(teid=42), sg.GTP_U_Header(teid=42, S=1, seq=9)):
        msg_type, teid, payload = parse_gtpu(bytes(header / inner))
        assert (msg_type, teid) == (255, 42)
        datagram = parse_udp(payload)
        assert (datagram.src, datagram.sport, bytes(datagram.payload)) == ("10.64.0.8", 1, b"ping")


def test_we_skip_a_scapy_pdu_session_container_extension() -> None:
    """A 5G N3 G-PDU carries a PDU Session Container (type 0x85, TS 38.415) before the T-PDU."""
    inner = IP(src="10.64.0.9", dst="100.64.0.1") / UDP(sport=5, dport=6) / b"x"
    data = bytes(sg.GTP_U_Header(teid=5, E=1, next_ex=0x85) / sg.GTPPDUSessionContainer(type=1, QFI=9) / inner)
    packet = parse_gtpu_full(data)
    assert [kind for kind, _ in packet.extensions] == [ExtensionType.PDU_SESSION_CONTAINER]
    assert bytes(packet.payload) == bytes(inner)
    assert bytes(parse_gtpu(data)[2]) == bytes(inner)


def test_echo_and_error_indication_match_scapy_octet_for_octet() -> None:
    assert encode_echo_request(77) == bytes(sg.GTP_U_Header(gtp_type=1, S=1, seq=77) / sg.GTPEchoRequest())
    scapy_response = sg.GTP_U_Header(gtp_type=2, S=1, seq=77) / sg.GTPEchoResponse(
        IE_list=[sg.IE_Recovery(restart_counter=0)]
    )
    assert encode_echo_response(77) == bytes(scapy_response)
    # scapy includes the address only when told its length up front.
    scapy_indication = sg.GTP_U_Header(gtp_type=26, S=1, seq=5) / sg.GTPErrorIndication(
        IE_list=[sg.IE_TEIDI(TEIDI=0x0BADF00D), sg.IE_GSNAddress(length=4, ipv4_address="127.0.0.1")]
    )
    assert encode_error_indication(0x0BADF00D, "127.0.0.1", seq=5) == bytes(scapy_indication)
    parsed = sg.GTP_U_Header(encode_error_indication(0x0BADF00D, "127.0.0.1", seq=5))
    assert parsed[sg.GTPErrorIndication].IE_list[0].TEIDI == 0x0BADF00D
