"""The GTPv2-C message header (TS 29.274 §5.1): framing a message body and reading a header back."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

from cellplane.protocols.gtp.causes import Cause
from cellplane.protocols.gtp.errors import GtpError


class MessageType(IntEnum):
    """The GTPv2-C messages of our S5/S8 path (TS 29.274 Table 6.1-1)."""

    ECHO_REQUEST = 1
    ECHO_RESPONSE = 2
    CREATE_SESSION_REQUEST = 32
    CREATE_SESSION_RESPONSE = 33
    DELETE_SESSION_REQUEST = 36
    DELETE_SESSION_RESPONSE = 37
    DELETE_BEARER_REQUEST = 99
    DELETE_BEARER_RESPONSE = 100


# Octet 1 is Version (3 bits) | P (piggybacking) | T (TEID present) | MP (message priority) | 2 spare bits.
VERSION = 2
FLAGS_NO_TEID = VERSION << 5  # 0x40: Echo Request/Response (T=0, TS 29.274 §5.4)
FLAGS_TEID = FLAGS_NO_TEID | 0x08  # 0x48: every session message (T=1)
_P, _T = 0x10, 0x08

_FIXED = struct.Struct("!BBH")  # flags, type, length: the 4 octets the length field does not count
_WITH_TEID = struct.Struct("!BBHI")
MAX_SEQ = 0xFFFFFF  # 24-bit sequence number
MAX_TEID = 0xFFFFFFFF


@dataclass(frozen=True, slots=True)
class Header:
    msg_type: int
    seq: int
    teid: int | None  # None when T=0
    length: int  # octets of the whole message: 4 + the Message Length field


def frame(msg_type: int, seq: int, body: bytes, teid: int | None) -> bytes:
    """Header + `body`; `teid=None` gives the short header of Echo messages."""
    if not isinstance(seq, int) or not 0 <= seq <= MAX_SEQ:
        raise GtpError(f"sequence number must be 0 to {MAX_SEQ}, not {seq!r}")
    if teid is not None and (not isinstance(teid, int) or not 0 <= teid <= MAX_TEID):
        raise GtpError(f"TEID must be 0 to {MAX_TEID}, not {teid!r}")
    # The Message Length counts everything after the first 4 octets (TS 29.274 §5.5): the TEID if
    # any, the sequence number and its spare octet (MP=0), and the IEs.
    length = (4 if teid is None else 8) + len(body)
    if length > 0xFFFF:
        raise GtpError(f"a body of {len(body)} octets is too long for one GTPv2-C message")
    if teid is None:
        head = _FIXED.pack(FLAGS_NO_TEID, msg_type, length)
    else:
        head = _WITH_TEID.pack(FLAGS_TEID, msg_type, length, teid)
    return head + seq.to_bytes(3, "big") + b"\x00" + body


def read_header(data: bytes) -> Header:
    """The header of a GTPv2-C message; GtpError when it is not one or its length does not add up."""
    if len(data) < 8:
        raise GtpError(f"{len(data)} octets are too short for a GTPv2-C header", cause=Cause.INVALID_LENGTH)
    flags, msg_type, length = _FIXED.unpack_from(data)
    version = flags >> 5
    if version != VERSION:
        # TS 29.274 §7.7.2: a GTPv2 entity answers other versions with Version Not Supported Indication.
        raise GtpError(f"GTP version {version}, not 2", cause=Cause.VERSION_NOT_SUPPORTED_BY_NEXT_PEER)
    has_teid = bool(flags & _T)
    header_len = 12 if has_teid else 8
    if has_teid and len(data) < 12:
        raise GtpError(f"{len(data)} octets are too short for a GTPv2-C header with TEID", cause=67)
    seq_at = 8 if has_teid else 4
    seq = int.from_bytes(data[seq_at : seq_at + 3], "big")
    teid = int.from_bytes(data[4:8], "big") if has_teid else None
    total = 4 + length
    error = {"cause": Cause.INVALID_LENGTH, "msg_type": msg_type, "seq": seq, "teid": teid}
    if total < header_len:
        raise GtpError(f"Message Length {length} is shorter than the header", **error)
    if total > len(data):
        raise GtpError(f"Message Length {length} runs past the {len(data)} octets received", **error)
    # With P=1 another message is piggybacked after this one (TS 29.274 §5.5); we read the first and
    # leave the second alone. Without it, trailing octets mean the length field lies.
    if total < len(data) and not flags & _P:
        raise GtpError(f"{len(data) - total} octets follow the message and P is not set", **error)
    return Header(msg_type=msg_type, seq=seq, teid=teid, length=total)


def body_of(data: bytes, header: Header) -> bytes:
    """The IEs after the header."""
    return data[(12 if header.teid is not None else 8) : header.length]
