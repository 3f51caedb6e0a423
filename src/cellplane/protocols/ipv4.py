"""IPv4 (RFC 791) and UDP (RFC 768) packets as they travel inside GTP-U tunnels: build one, parse one.

These run once per user packet in the gateway, so there is no per-word Python loop: a one's-complement
sum of 16-bit words equals the buffer read as one big integer modulo 0xFFFF (2**16 is 1 modulo 0xFFFF),
which int.from_bytes and % compute in C. The same identity lets the pseudo-header and the UDP header be
added as plain integers instead of being packed. Parsers validate what a host's stack would (version,
lengths, header and UDP checksums) and return views into the input, not copies. Addresses are
dotted-quad strings; the few a gateway sees are converted once and cached.
"""

from __future__ import annotations

import struct
from functools import lru_cache
from socket import inet_aton, inet_ntoa
from typing import NamedTuple

PROTO_ICMP = 1
PROTO_TCP = 6
PROTO_UDP = 17

_IPV4 = struct.Struct("!BBHHHBBH4s4s")  # version/IHL, DSCP/ECN, total length, id, flags/fragment, TTL, proto, csum
_UDP = struct.Struct("!HHHH")  # source port, destination port, length, checksum
IPV4_HEADER_LEN = _IPV4.size
UDP_HEADER_LEN = _UDP.size
MAX_UDP_PAYLOAD = 0xFFFF - IPV4_HEADER_LEN - UDP_HEADER_LEN
_DF = 0x4000
_MF = 0x2000
_OFFSET_MASK = 0x1FFF
_ADDRESSES = slice(12, 20)  # source and destination, adjacent in the header and in the pseudo-header
_new_tuple = tuple.__new__


class Ipv4Error(ValueError):
    """A packet that is not a well-formed IPv4 (or UDP-in-IPv4) packet, or values that cannot make one."""


class Ipv4Packet(NamedTuple):
    src: str
    dst: str
    protocol: int
    ttl: int
    ident: int
    more_fragments: bool
    fragment_offset: int  # in octets
    payload: memoryview  # what follows the header, up to Total Length


class UdpDatagram(NamedTuple):
    src: str
    dst: str
    sport: int
    dport: int
    payload: memoryview


def _fold(total: int) -> int:
    """The 16-bit one's-complement checksum of a sum of words (RFC 1071 §4.1's final fold and complement)."""
    folded = total % 0xFFFF
    if folded == 0 and total:  # a nonzero sum never folds to +0 in one's complement: it is 0xFFFF
        folded = 0xFFFF
    return ~folded & 0xFFFF


def _words(data: bytes | bytearray | memoryview) -> int:
    """`data` as a sum of 16-bit words (an odd last octet is the high half of a zero-padded word)."""
    return int.from_bytes(data, "big") << (8 * (len(data) & 1))


def internet_checksum(data: bytes | bytearray | memoryview, initial: int = 0) -> int:
    """RFC 1071 checksum of `data`, zero-padded to even length, plus an `initial` sum of words."""
    return _fold(_words(data) + initial)


@lru_cache(maxsize=4096)
def _packed(value: str) -> bytes:
    # inet_aton alone would also take "10.1" or "127.1" (BSD shorthand): only full dotted quads here.
    try:
        if isinstance(value, str) and value.count(".") == 3:
            return inet_aton(value)
    except OSError:
        pass
    raise Ipv4Error(f"not a dotted-quad IPv4 address: {value!r}")


@lru_cache(maxsize=4096)
def _pair(addresses: bytes) -> tuple[str, str]:
    """Source and destination of a header as text: one lookup per packet for the flows a gateway sees."""
    return inet_ntoa(addresses[:4]), inet_ntoa(addresses[4:])


def _header(src: bytes, dst: bytes, protocol: int, total: int, ttl: int, ident: int, flags: int, tos: int) -> bytes:
    """A 20-octet IPv4 header (no options) with its checksum."""
    try:
        fields = [0x45, tos, total, ident, flags, ttl, protocol, 0, src, dst]  # version 4, IHL 5 words
        fields[7] = _fold(int.from_bytes(_IPV4.pack(*fields), "big"))
        return _IPV4.pack(*fields)
    except struct.error as exc:
        raise Ipv4Error(f"cannot build an IPv4 header: {exc}") from exc


def build_ipv4(
    src: str,
    dst: str,
    protocol: int,
    payload: bytes | bytearray | memoryview,
    *,
    ttl: int = 64,
    ident: int = 0,
    dont_fragment: bool = False,
    tos: int = 0,
) -> bytes:
    """An IPv4 header (no options) with its checksum, followed by `payload`."""
    flags = _DF if dont_fragment else 0
    total = IPV4_HEADER_LEN + len(payload)
    return _header(_packed(src), _packed(dst), protocol, total, ttl, ident, flags, tos) + payload


def build_udp(
    src: str,
    dst: str,
    sport: int,
    dport: int,
    payload: bytes | bytearray | memoryview,
    *,
    ttl: int = 64,
    ident: int = 0,
) -> bytes:
    """An IPv4 packet carrying one UDP datagram, both checksums filled in."""
    if len(payload) > MAX_UDP_PAYLOAD:
        raise Ipv4Error(f"UDP payload of {len(payload)} octets does not fit an IPv4 packet")
    if not (0 <= sport <= 0xFFFF and 0 <= dport <= 0xFFFF):
        raise Ipv4Error(f"UDP ports must be 0 to 65535, not {sport!r} and {dport!r}")
    src_packed, dst_packed = _packed(src), _packed(dst)
    length = UDP_HEADER_LEN + len(payload)
    # RFC 768: pseudo-header (addresses, protocol, UDP length) + header (ports, length) + data. A computed
    # 0 is sent as all ones: 0 in the field means "no checksum".
    words = int.from_bytes(src_packed + dst_packed, "big") + PROTO_UDP + length + sport + dport + length
    checksum = _fold(words + _words(payload)) or 0xFFFF
    total = IPV4_HEADER_LEN + length
    header = _header(src_packed, dst_packed, PROTO_UDP, total, ttl, ident, 0, 0)
    return header + _UDP.pack(sport, dport, length, checksum) + payload


def _read_ipv4(data: bytes | bytearray | memoryview) -> tuple[int, int, int, int, memoryview, memoryview]:
    """(protocol, ttl, ident, flags/fragment, header view, payload view) of a checked IPv4 packet."""
    if len(data) < IPV4_HEADER_LEN:
        raise Ipv4Error(f"{len(data)} octets are too short for an IPv4 header")
    version_ihl, _tos, total, ident, frag, ttl, protocol, _checksum, _src, _dst = _IPV4.unpack_from(data)
    if version_ihl >> 4 != 4:
        raise Ipv4Error(f"IP version {version_ihl >> 4}, not 4")
    header_len = (version_ihl & 0x0F) * 4
    if header_len < IPV4_HEADER_LEN:
        raise Ipv4Error(f"IHL {version_ihl & 0x0F} is below the minimum of 5")
    if not header_len <= total <= len(data):
        raise Ipv4Error(f"Total Length {total} does not fit the header ({header_len}) and the {len(data)} octets")
    view = memoryview(data)
    header = view[:header_len]
    # A correct header, checksum included, sums to all ones: 0 modulo 0xFFFF (it cannot be all zeros).
    if int.from_bytes(header, "big") % 0xFFFF:
        raise Ipv4Error("IPv4 header checksum mismatch")
    return protocol, ttl, ident, frag, header, view[header_len:total]


def parse_ipv4(data: bytes | bytearray | memoryview) -> Ipv4Packet:
    """The header fields and payload of an IPv4 packet; Ipv4Error unless its lengths and checksum hold.

    Octets after Total Length are ignored, as a host does with link-layer padding.
    """
    protocol, ttl, ident, frag, header, payload = _read_ipv4(data)
    src, dst = _pair(bytes(header[_ADDRESSES]))
    return Ipv4Packet(src, dst, protocol, ttl, ident, bool(frag & _MF), (frag & _OFFSET_MASK) * 8, payload)


def parse_udp(data: bytes | bytearray | memoryview) -> UdpDatagram:
    """The UDP datagram inside an IPv4 packet; Ipv4Error for non-UDP, fragments, bad lengths or checksums."""
    protocol, _ttl, _ident, frag, header, segment = _read_ipv4(data)
    if protocol != PROTO_UDP:
        raise Ipv4Error(f"IP protocol {protocol}, not UDP")
    if frag & (_MF | _OFFSET_MASK):
        raise Ipv4Error("fragmented UDP datagrams are not reassembled")
    if len(segment) < UDP_HEADER_LEN:
        raise Ipv4Error(f"{len(segment)} octets are too short for a UDP header")
    sport, dport, length, checksum = _UDP.unpack_from(segment)
    if not UDP_HEADER_LEN <= length <= len(segment):
        raise Ipv4Error(f"UDP Length {length} does not fit the {len(segment)} octets of the IP payload")
    segment = segment[:length]
    addresses = header[_ADDRESSES]
    # Checksum 0: the sender computed none (RFC 768). Otherwise pseudo-header + segment, checksum field
    # included, must sum to all ones: 0 modulo 0xFFFF.
    if checksum and (int.from_bytes(addresses, "big") + PROTO_UDP + length + _words(segment)) % 0xFFFF:
        raise Ipv4Error("UDP checksum mismatch")
    src, dst = _pair(bytes(addresses))
    # tuple.__new__ directly: the generated NamedTuple constructor is a Python frame per packet.
    return _new_tuple(UdpDatagram, (src, dst, sport, dport, segment[UDP_HEADER_LEN:]))


def packet_sizes(total: int, largest: int = 1400, smallest: int = IPV4_HEADER_LEN + UDP_HEADER_LEN) -> list[int]:
    """Sizes of IPv4 packets, each from `smallest` to `largest` octets, that add up to exactly `total`.

    Traffic generators use it so that usage counted on inner IP packets equals what was asked for: the
    fewest packets, all within one octet of each other. `smallest` defaults to a UDP packet without data.
    """
    if not isinstance(total, int) or total < 0:
        raise Ipv4Error(f"a byte count must be a non-negative integer, not {total!r}")
    if largest < 2 * smallest:
        raise Ipv4Error(f"largest packet {largest} must be at least twice the smallest {smallest}")
    if total == 0:
        return []
    if total < smallest:
        raise Ipv4Error(f"{total} octets cannot be one IPv4/UDP packet: the headers alone take {smallest}")
    count = -(-total // largest)
    base, extra = divmod(total, count)
    return [base + 1] * extra + [base] * (count - extra)
