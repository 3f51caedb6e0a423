"""GTP-U (TS 29.281), hand-written for speed: the G-PDU hot path, Echo and Error Indication.

The gateway moves every user packet through `encode_gpdu` and `parse_gtpu`, so both are a struct call
and a slice: `parse_gtpu` hands back the T-PDU as a memoryview of the datagram, no copy. Headers with
optional fields (sequence number, N-PDU number, extension headers) take the slower, general path.
"""

from __future__ import annotations

import ipaddress
import struct
from enum import IntEnum
from typing import NamedTuple

from cellplane.protocols.gtp.errors import GtpError


class GtpuType(IntEnum):
    """GTP-U message types (TS 29.281 Table 6.1-1)."""

    ECHO_REQUEST = 1
    ECHO_RESPONSE = 2
    ERROR_INDICATION = 26
    SUPPORTED_EXTENSION_HEADERS_NOTIFICATION = 31
    END_MARKER = 254
    G_PDU = 255


class ExtensionType(IntEnum):
    """Extension header types we name (TS 29.281 Figure 5.2.1-3); the two top bits say who must
    understand one: 00/01 nobody (forward/discard), 10 the endpoint, 11 every receiver (§5.2.1)."""

    NONE = 0x00
    UDP_PORT = 0x40
    PDU_SESSION_CONTAINER = 0x85
    PDCP_PDU_NUMBER = 0xC0


# Octet 1: Version (3 bits, 1) | PT (1: GTP, not GTP') | spare | E | S | PN (TS 29.281 §5.1).
FLAGS = 0x30
_E, _S, _PN = 0x04, 0x02, 0x01
_OPTIONAL = _E | _S | _PN
_CHECKED = 0xF0 | _OPTIONAL  # the spare bit is "not evaluated by the receiver"

_HEADER = struct.Struct("!BBHI")  # flags, type, length (octets after these 8), TEID
_OPTIONAL_FIELDS = struct.Struct("!HBB")  # sequence number, N-PDU number, next extension header type
HEADER_LEN = _HEADER.size
_pack_header = _HEADER.pack
_unpack_header = _HEADER.unpack_from

# Information elements of the path-management messages (TS 29.281 §8).
_IE_RECOVERY = 14  # TV, 1 octet
_IE_TEID_DATA_I = 16  # TV, 4 octets
_IE_PEER_ADDRESS = 133  # TLV, IPv4 or IPv6
_IE_PRIVATE_EXTENSION = 255  # TLV
_TV_LENGTHS = {_IE_RECOVERY: 1, _IE_TEID_DATA_I: 4}


class GtpuPacket(NamedTuple):
    """A GTP-U message with everything its header said; `payload` is a view into the datagram."""

    msg_type: int
    teid: int
    seq: int | None
    npdu: int | None
    extensions: tuple[tuple[int, bytes], ...]
    payload: memoryview


class ErrorIndication(NamedTuple):
    """The tunnel a peer does not know (TS 29.281 §7.3.1): its TEID and the address it was sent to."""

    teid: int
    peer: str
    udp_port: int | None  # source port of the G-PDU that triggered it, when the UDP Port extension came


def encode_gpdu(teid: int, payload: bytes | bytearray | memoryview) -> bytes:
    """A G-PDU carrying `payload` (an IP packet) in tunnel `teid`; no sequence number, as TS 29.281 §5.1
    recommends for G-PDUs sent by a PGW, SGW or eNodeB."""
    try:
        return _pack_header(FLAGS, 255, len(payload), teid) + payload
    except struct.error as exc:
        raise GtpError(f"cannot tunnel {len(payload)} octets in TEID {teid!r}: {exc}") from exc


def parse_gtpu(data: bytes | bytearray | memoryview) -> tuple[int, int, memoryview]:
    """(message type, TEID, payload view) of one GTP-U datagram; GtpError if it is not one."""
    try:
        flags, msg_type, length, teid = _unpack_header(data)
    except struct.error as exc:
        raise GtpError(f"{len(data)} octets are too short for a GTP-U header") from exc
    if flags & _CHECKED == FLAGS:  # the common case: version 1, no optional fields
        if HEADER_LEN + length != len(data):
            raise GtpError(f"GTP-U Length {length} does not match the {len(data) - HEADER_LEN} octets after the header")
        return msg_type, teid, memoryview(data)[HEADER_LEN:]
    packet = parse_gtpu_full(data)
    return packet.msg_type, packet.teid, packet.payload


def parse_gtpu_full(data: bytes | bytearray | memoryview) -> GtpuPacket:
    """Every header field of one GTP-U datagram, extension headers included (TS 29.281 §5.1, §5.2)."""
    if len(data) < HEADER_LEN:
        raise GtpError(f"{len(data)} octets are too short for a GTP-U header")
    flags, msg_type, length, teid = _unpack_header(data)
    if flags & 0xF0 != FLAGS:
        raise GtpError(f"flags {flags:#04x}: not GTP version 1 with PT=1")
    end = HEADER_LEN + length
    if end != len(data):
        raise GtpError(f"GTP-U Length {length} does not match the {len(data) - HEADER_LEN} octets after the header")
    view = memoryview(data)
    if not flags & _OPTIONAL:
        return GtpuPacket(msg_type, teid, None, None, (), view[HEADER_LEN:])
    # Any of E, S, PN makes all three optional fields present; only the flagged ones are meaningful.
    if length < _OPTIONAL_FIELDS.size:
        raise GtpError(f"GTP-U Length {length} leaves no room for the sequence number fields")
    seq, npdu, next_type = _OPTIONAL_FIELDS.unpack_from(data, HEADER_LEN)
    offset = HEADER_LEN + _OPTIONAL_FIELDS.size
    extensions = []
    if flags & _E:
        while next_type:
            # An extension header is 4*n octets: n, content, next type (TS 29.281 §5.2.1); n=0 is invalid.
            if offset >= end or data[offset] == 0:
                raise GtpError(f"extension header {next_type:#04x} is truncated or has length 0")
            size = 4 * data[offset]
            if offset + size > end:
                raise GtpError(f"extension header {next_type:#04x} runs past the end of the message")
            extensions.append((next_type, bytes(view[offset + 1 : offset + size - 1])))
            next_type = data[offset + size - 1]
            offset += size
    return GtpuPacket(
        msg_type,
        teid,
        seq if flags & _S else None,
        npdu if flags & _PN else None,
        tuple(extensions),
        view[offset:end],
    )


def _with_seq(msg_type: int, seq: int, body: bytes, extensions: bytes = b"", first_extension: int = 0) -> bytes:
    """A TEID-0 path message with S=1, as TS 29.281 §5.1 requires for Echo and Error Indication."""
    if not isinstance(seq, int) or not 0 <= seq <= 0xFFFF:
        raise GtpError(f"GTP-U sequence number must be 0 to 65535, not {seq!r}")
    flags = FLAGS | _S | (_E if extensions else 0)
    optional = _OPTIONAL_FIELDS.pack(seq, 0, first_extension)
    return _pack_header(flags, msg_type, len(optional) + len(extensions) + len(body), 0) + optional + extensions + body


def encode_echo_request(seq: int) -> bytes:
    """Echo Request (TS 29.281 §7.2.1): no IEs."""
    return _with_seq(GtpuType.ECHO_REQUEST, seq, b"")


def encode_echo_response(seq: int) -> bytes:
    """Echo Response (TS 29.281 §7.2.2) to the request with `seq`; its Recovery IE's restart counter is
    always 0 in GTP-U (§8.2)."""
    return _with_seq(GtpuType.ECHO_RESPONSE, seq, bytes((_IE_RECOVERY, 0)))


def encode_error_indication(teid: int, peer: str, *, seq: int = 0, udp_port: int | None = None) -> bytes:
    """Error Indication (TS 29.281 §7.3.1): we hold no tunnel `teid` at our address `peer`.

    `udp_port` is the source port of the G-PDU that caused it, sent in a UDP Port extension header.
    """
    try:
        address = ipaddress.ip_address(peer).packed
        body = struct.pack("!BIBH", _IE_TEID_DATA_I, teid, _IE_PEER_ADDRESS, len(address)) + address
        extension = struct.pack("!BHB", 1, udp_port, 0) if udp_port is not None else b""
    except (ValueError, struct.error) as exc:
        raise GtpError(f"cannot build an Error Indication for TEID {teid!r} at {peer!r}: {exc}") from exc
    return _with_seq(GtpuType.ERROR_INDICATION, seq, body, extension, ExtensionType.UDP_PORT if extension else 0)


def parse_error_indication(packet: GtpuPacket) -> ErrorIndication:
    """The TEID and peer address an Error Indication reports (both mandatory, TS 29.281 §7.3.1)."""
    if packet.msg_type != GtpuType.ERROR_INDICATION:
        raise GtpError(f"message type {packet.msg_type} is not an Error Indication")
    ies = _read_ies(packet.payload)
    teid, address = ies.get(_IE_TEID_DATA_I), ies.get(_IE_PEER_ADDRESS)
    if teid is None or address is None or len(address) not in (4, 16):
        raise GtpError("Error Indication without a TEID Data I and a GTP-U Peer Address")
    udp_port = next(
        (int.from_bytes(content[:2], "big") for kind, content in packet.extensions if kind == ExtensionType.UDP_PORT),
        None,
    )
    return ErrorIndication(int.from_bytes(teid, "big"), str(ipaddress.ip_address(address)), udp_port)


def _read_ies(payload: memoryview) -> dict[int, bytes]:
    """GTP-U IEs: types below 128 are TV with a fixed length, the others TLV (TS 29.281 §8.1)."""
    ies: dict[int, bytes] = {}
    offset, end = 0, len(payload)
    while offset < end:
        ie_type = payload[offset]
        if ie_type < 128:
            length = _TV_LENGTHS.get(ie_type)
            if length is None:
                raise GtpError(f"unknown TV information element {ie_type}: its length cannot be known")
            start = offset + 1
        else:
            if offset + 3 > end:
                raise GtpError(f"information element {ie_type} is truncated")
            length = int.from_bytes(payload[offset + 1 : offset + 3], "big")
            start = offset + 3
        offset = start + length
        if offset > end:
            raise GtpError(f"information element {ie_type} runs past the end of the message")
        ies.setdefault(ie_type, bytes(payload[start:offset]))
    return ies
