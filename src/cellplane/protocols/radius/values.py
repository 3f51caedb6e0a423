"""Attribute value codecs, one decoder and one encoder per data type (RFC 2865 §5, RFC 8044 §3).

Decoders raise `MalformedPacket` on a value of the wrong size; encoders raise `InvalidAttribute` on a value of the
wrong Python type or range. Python types: `string` → str (UTF-8; undecodable octets kept as surrogate escapes so
nothing is lost), `octets`/`password` → bytes, `integer`/`date`/`byte` → int, `ipaddr`/`ipv6addr` → address text,
`ipv6prefix` → "address/length" text.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from functools import partial
from ipaddress import IPv4Address, IPv6Address

from .errors import InvalidAttribute, MalformedPacket

Value = str | int | bytes

_inet_ntoa = socket.inet_ntoa
_inet_ntop = socket.inet_ntop
_inet_pton = socket.inet_pton
_AF_INET = socket.AF_INET
_AF_INET6 = socket.AF_INET6


def _decode_string(v: bytes) -> str:
    return v.decode("utf-8", "surrogateescape")


def _decode_ipv6prefix(v: bytes) -> str:
    # RFC 3162 §2.3: Reserved (1), Prefix-Length (1), then only the octets the prefix needs.
    if not 2 <= len(v) <= 18 or v[1] > 128 or (v[1] + 7) // 8 > len(v) - 2:
        raise MalformedPacket("bad IPv6 prefix attribute")
    address = _inet_ntop(_AF_INET6, v[2:].ljust(16, bytes(1)))
    return f"{address}/{v[1]}"


def _encode_string(value: Value) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape")
    if isinstance(value, bytes):
        return value
    raise InvalidAttribute(f"expected text, got {type(value).__name__}")


def _encode_octets(value: Value) -> bytes:
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    raise InvalidAttribute(f"expected bytes, got {type(value).__name__}")


def _unsigned(value: Value, size: int) -> bytes:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 1 << (8 * size):
        raise InvalidAttribute(f"expected an integer of {size} octets, got {value!r}")
    return value.to_bytes(size)


def _encode_integer(value: Value) -> bytes:
    return _unsigned(value, 4)


def _encode_byte(value: Value) -> bytes:
    return _unsigned(value, 1)


def _address(family: int, value: object) -> bytes:
    # Text or an `ipaddress` object; anything else (bytes, ints) is refused rather than guessed at.
    if isinstance(value, IPv4Address | IPv6Address):
        value = str(value)
    if not isinstance(value, str):
        return b""
    try:
        return _inet_pton(family, value)
    except OSError:
        return b""


def _encode_ipaddr(value: Value) -> bytes:
    packed = _address(_AF_INET, value)
    if len(packed) != 4:
        raise InvalidAttribute(f"expected an IPv4 address, got {value!r}")
    return packed


def _encode_ipv6addr(value: Value) -> bytes:
    packed = _address(_AF_INET6, value)
    if len(packed) != 16:
        raise InvalidAttribute(f"expected an IPv6 address, got {value!r}")
    return packed


def _encode_ipv6prefix(value: Value) -> bytes:
    if not isinstance(value, str):
        raise InvalidAttribute(f"expected an IPv6 prefix address/length, got {value!r}")
    address, _, length = value.partition("/")
    packed = _address(_AF_INET6, address)
    if len(packed) != 16 or not (length.isascii() and length.isdigit()) or int(length) > 128:
        raise InvalidAttribute(f"expected an IPv6 prefix address/length, got {value!r}")
    bits = int(length)
    return bytes((0, bits)) + packed[: (bits + 7) // 8]


# type -> (converter, fixed size). The decode loop checks the size itself so that most converters can be C
# functions called directly; None means the octets are the value.
Decoder = tuple[Callable[[bytes], Value] | None, int]
DECODERS: dict[str, Decoder] = {
    "string": (_decode_string, 0),
    "password": (None, 0),
    "octets": (None, 0),
    "integer": (int.from_bytes, 4),
    "date": (int.from_bytes, 4),
    "byte": (int.from_bytes, 1),
    "ipaddr": (_inet_ntoa, 4),
    "ipv6addr": (partial(_inet_ntop, _AF_INET6), 16),
    "ipv6prefix": (_decode_ipv6prefix, 0),
}


def decode_value(type_: str, octets: bytes) -> Value:
    """One value of data type `type_`, outside the decode loop; raises MalformedPacket on a bad size."""
    convert, size = DECODERS[type_]
    if size and len(octets) != size:
        raise MalformedPacket(f"{type_} attribute of {len(octets)} octets")
    return octets if convert is None else convert(octets)


ENCODERS: dict[str, Callable[[Value], bytes]] = {
    "string": _encode_string,
    "password": _encode_octets,
    "octets": _encode_octets,
    "integer": _encode_integer,
    "date": _encode_integer,
    "byte": _encode_byte,
    "ipaddr": _encode_ipaddr,
    "ipv6addr": _encode_ipv6addr,
    "ipv6prefix": _encode_ipv6prefix,
}
