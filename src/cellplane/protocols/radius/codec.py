"""Fast RADIUS packet codec: decode what a NAS or server sends us, build what we send back.

Why hand-rolled: the AAA must answer thousands of Access-Requests a second on two cores (issue 3: at least half of
FreeRADIUS). pyrad's `Packet` is an OrderedDict of lists that decodes every value through dictionary lookups, named
keys and per-attribute struct calls, then re-encodes the packet to check a Message-Authenticator; most of a request's
budget goes there. This module walks the attribute TLVs once over the received bytes, decodes only attributes it has
a definition for (schema.py) into plain Python values, keeps offsets instead of copies for what must be verified,
and builds responses by concatenating pre-computed attribute headers. pyrad stays in use as the reference: the
dictionary files are in its format, and the tests use pyrad as the independent peer that builds our input and
checks our output.

Wire rules followed: RFC 2865 §3 (header, lengths, padding, Response Authenticator), §5 (attribute TLVs), §5.26
(Vendor-Specific, the 3GPP sub-attributes of TS 29.061 §16.4.7), §5.33 (Proxy-State echoed in order); RFC 2866 §3
and RFC 5176 §3.3 (computed Request Authenticators); RFC 3579 §3.2 (Message-Authenticator). `decode` raises only
`MalformedPacket`; whether a packet is authentic is a separate question (`verify_request`, `verify_response`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from . import crypto
from .constants import (
    HEADER_SIZE,
    MAX_PACKET_SIZE,
    MAX_VALUE_SIZE,
    MAX_VSA_VALUE_SIZE,
    RESPONSE_TO,
    VENDOR_3GPP,
    Code,
)
from .errors import InvalidAttribute, MalformedPacket
from .schema import (
    BY_NAME,
    MESSAGE_AUTHENTICATOR,
    PROXY_STATE,
    STANDARD,
    THREE_GPP,
    VENDOR_SPECIFIC,
)
from .values import DECODERS, ENCODERS, Value, decode_value

Attributes = Iterable[tuple[str, Value]]

# number -> (name, converter, fixed size) for the standard space and for 3GPP's sub-attributes (values.DECODERS).
# Vendor-Specific, Proxy-State (kept in order for the response) and Message-Authenticator (kept as an offset for
# verification) are left out: decode() treats them apart.
_Spec = tuple[str, Callable[[bytes], Value] | None, int]
_SPECIAL = (VENDOR_SPECIFIC, PROXY_STATE, MESSAGE_AUTHENTICATOR)
_DECODE: dict[int, _Spec] = {a.code: (a.name, *DECODERS[a.type]) for a in STANDARD if a.code not in _SPECIAL}
_DECODE_3GPP: dict[int, _Spec] = {a.code: (a.name, *DECODERS[a.type]) for a in THREE_GPP}
_3GPP_ID = VENDOR_3GPP.to_bytes(4)
# name -> (number, Vendor-Id octets or b"" in the standard space, encoder, largest value that fits).
_ENCODE: dict[str, tuple[int, bytes, Callable[[Value], bytes], int]] = {
    a.name: (
        a.code,
        a.vendor.to_bytes(4) if a.vendor else b"",
        ENCODERS[a.type],
        MAX_VSA_VALUE_SIZE if a.vendor else MAX_VALUE_SIZE,
    )
    for a in BY_NAME.values()
}

_REQUESTS_WITH_RANDOM_AUTHENTICATOR = frozenset({Code.ACCESS_REQUEST, Code.STATUS_SERVER})
_REQUESTS_WITH_COMPUTED_AUTHENTICATOR = frozenset({Code.ACCOUNTING_REQUEST, Code.DISCONNECT_REQUEST, Code.COA_REQUEST})
_ACCESS_RESPONSES = frozenset({Code.ACCESS_ACCEPT, Code.ACCESS_REJECT, Code.ACCESS_CHALLENGE})
_EMPTY_MA = bytes((MESSAGE_AUTHENTICATOR, 18)) + crypto.ZERO_AUTHENTICATOR


@dataclass(slots=True)
class Packet:
    """A decoded packet.

    `attributes` maps the dictionary name of every attribute we have a definition for to its first value, typed
    (see values.py); everything else, and repeated values, stay reachable through `raw`. `proxy_state` holds the
    Proxy-State values in order, which every response must echo. `message_authenticator_at` is the offset in `raw`
    of the Message-Authenticator's value, or -1.
    """

    code: int
    identifier: int
    authenticator: bytes
    attributes: dict[str, Value]
    raw: bytes
    proxy_state: tuple[bytes, ...] = ()
    message_authenticator_at: int = -1

    def get(self, name: str, default: Value | None = None) -> Value | None:
        """The first value of attribute `name`; a name the schema does not define is a bug and raises KeyError."""
        if name not in _ENCODE:
            raise KeyError(f"no RADIUS attribute named {name!r}")
        return self.attributes.get(name, default)

    def __contains__(self, name: str) -> bool:
        return name in self.attributes

    def values(self, name: str) -> list[Value]:
        """Every value of attribute `name` in packet order (Class, Reply-Message and EAP-Message may repeat).

        decode() checks only the first value of each attribute, so a later ill-sized one raises MalformedPacket here.
        """
        spec = BY_NAME[name]
        found: list[Value] = []
        for number, value in self.raw_attributes():
            if not spec.vendor and number == spec.code:
                found.append(decode_value(spec.type, value))
            elif spec.vendor and number == VENDOR_SPECIFIC and value[:4] == spec.vendor.to_bytes(4):
                found.extend(decode_value(spec.type, sub) for kind, sub in _split_tlvs(value, 4) if kind == spec.code)
        return found

    def raw_attributes(self) -> list[tuple[int, bytes]]:
        """Every attribute as (type, value octets), in packet order, Vendor-Specific ones unparsed."""
        return _split_tlvs(self.raw, HEADER_SIZE)


def _split_tlvs(data: bytes, start: int) -> list[tuple[int, bytes]]:
    found = []
    end = len(data)
    i = start
    while i < end:
        if i + 1 >= end or data[i + 1] < 2 or i + data[i + 1] > end:
            raise MalformedPacket(f"attribute at offset {i} overruns its container")
        found.append((data[i], data[i + 2 : i + data[i + 1]]))
        i += data[i + 1]
    return found


def decode(data: bytes | bytearray | memoryview) -> Packet:
    """Parse one datagram; raises MalformedPacket for anything RFC 2865 §3 says to discard.

    One pass over the TLVs, written for speed: a length octet that points past the end is caught by the bounds
    checks, and an attribute header cut in half by the IndexError of reading past the (trimmed) packet.
    """
    if type(data) is not bytes:
        data = bytes(data)
    size = len(data)
    if size < HEADER_SIZE:
        raise MalformedPacket(f"{size} octets is shorter than a RADIUS header")
    length = (data[2] << 8) | data[3]
    if length < HEADER_SIZE or length > MAX_PACKET_SIZE:
        raise MalformedPacket(f"Length field {length} is out of range")
    if length > size:
        raise MalformedPacket(f"Length field {length} exceeds the {size} octets received")
    if length < size:
        data = data[:length]  # RFC 2865 §3: octets beyond Length are padding
    attributes: dict[str, Value] = {}
    proxy_state: list[bytes] = []
    ma_at = -1
    standard = _DECODE
    vendor = _DECODE_3GPP
    i = HEADER_SIZE
    try:
        while i < length:
            number = data[i]
            end = i + data[i + 1]
            if end < i + 2 or end > length:
                raise MalformedPacket(f"attribute {number} at offset {i} has a bad length")
            spec = standard.get(number)
            if spec is not None:
                name, convert, fixed = spec
                if name not in attributes:
                    if fixed and end - i - 2 != fixed:
                        raise MalformedPacket(f"{name} of {end - i - 2} octets")
                    value = data[i + 2 : end]
                    attributes[name] = value if convert is None else convert(value)
            elif number == VENDOR_SPECIFIC:
                # RFC 2865 §5.26: Vendor-Id, then TLVs for vendors using the suggested format, as 3GPP does.
                # Other vendors (and a Vendor-Specific too short for a Vendor-Id) are left in Packet.raw.
                if data.startswith(_3GPP_ID, i + 2, end):
                    j = i + 6
                    while j < end:
                        sub_end = j + data[j + 1]
                        if sub_end < j + 2 or sub_end > end:
                            raise MalformedPacket(f"3GPP sub-attribute {data[j]} at offset {j} has a bad length")
                        spec = vendor.get(data[j])
                        if spec is not None:
                            name, convert, fixed = spec
                            if name not in attributes:
                                if fixed and sub_end - j - 2 != fixed:
                                    raise MalformedPacket(f"{name} of {sub_end - j - 2} octets")
                                value = data[j + 2 : sub_end]
                                attributes[name] = value if convert is None else convert(value)
                        j = sub_end
            elif number == PROXY_STATE:
                proxy_state.append(data[i + 2 : end])
                attributes.setdefault("Proxy-State", proxy_state[0])
            elif number == MESSAGE_AUTHENTICATOR:
                if end - i != 18 or ma_at >= 0:
                    raise MalformedPacket("Message-Authenticator must appear once, with 16 octets")
                ma_at = i + 2
                attributes["Message-Authenticator"] = data[ma_at:end]
            i = end
    except IndexError:
        raise MalformedPacket(f"attribute header truncated at offset {i}") from None
    return Packet(data[0], data[1], data[4:20], attributes, data, tuple(proxy_state), ma_at)


def _encode_one(name: str, value: Value) -> bytes:
    try:
        number, vendor_id, encode, limit = _ENCODE[name]
    except KeyError:
        raise InvalidAttribute(f"no RADIUS attribute named {name!r}") from None
    try:
        octets = encode(value)
    except InvalidAttribute as error:
        raise InvalidAttribute(f"{name}: {error}") from None
    size = len(octets)
    if size > limit:
        raise InvalidAttribute(f"{name}: {size} octets do not fit in one attribute (at most {limit})")
    if vendor_id:
        # RFC 2865 §5.26: Type 26, Length, Vendor-Id, then one sub-attribute (Vendor type, Vendor length, value).
        return bytes((VENDOR_SPECIFIC, size + 8)) + vendor_id + bytes((number, size + 2)) + octets
    return bytes((number, size + 2)) + octets


def encode_attributes(attributes: Attributes) -> bytes:
    """The attribute section for (name, value) pairs, in order; User-Password must already be hidden."""
    return b"".join([_encode_one(name, value) for name, value in attributes])


def _assemble(code: int, identifier: int, body: bytes, secret: bytes, ma_vector: bytes | None) -> tuple[bytes, bytes]:
    """(Code+Identifier+Length, attributes), with a Message-Authenticator first when `ma_vector` is given: the
    16 octets the Authenticator field holds while it is computed (crypto.message_authenticator_vector)."""
    if ma_vector is not None:
        body = _EMPTY_MA + body
    length = HEADER_SIZE + len(body)
    if length > MAX_PACKET_SIZE:
        raise InvalidAttribute(f"packet of {length} octets exceeds {MAX_PACKET_SIZE}")
    header = bytes((code, identifier, length >> 8, length & 0xFF))
    if ma_vector is not None:
        body = body[:2] + crypto.message_authenticator(secret, header + ma_vector + body) + body[18:]
    return header, body


def build_request(
    code: int,
    identifier: int,
    attributes: Attributes,
    secret: bytes,
    *,
    authenticator: bytes | None = None,
    message_authenticator: bool | None = None,
) -> bytes:
    """Encode a request; its Request Authenticator is `raw[4:20]`, needed to check the response.

    Access-Request and Status-Server get a random authenticator (or `authenticator`), a plaintext User-Password in
    `attributes` is hidden with it (RFC 2865 §5.2), and a Message-Authenticator is added unless refused (RFC 5997 §3
    requires it for Status-Server; BlastRADIUS, CVE-2024-3596, makes it wise for Access-Request). Accounting-,
    Disconnect- and CoA-Requests get the computed authenticator of RFC 2866 §3 / RFC 5176 §3.3.
    """
    if not 0 <= identifier <= 255:
        raise InvalidAttribute(f"identifier {identifier} is not one octet")
    if code in _REQUESTS_WITH_RANDOM_AUTHENTICATOR:
        vector = authenticator if authenticator is not None else os.urandom(16)
        pairs = [
            (name, crypto.hide_password(value, secret, vector))
            if name == "User-Password" and isinstance(value, str | bytes)
            else (name, value)
            for name, value in attributes
        ]
        signed = message_authenticator is not False
        header, body = _assemble(code, identifier, encode_attributes(pairs), secret, vector if signed else None)
        return header + vector + body
    if code in _REQUESTS_WITH_COMPUTED_AUTHENTICATOR:
        ma_vector = crypto.ZERO_AUTHENTICATOR if message_authenticator else None
        header, body = _assemble(code, identifier, encode_attributes(attributes), secret, ma_vector)
        return header + crypto.computed_request_authenticator(header, body, secret) + body
    raise InvalidAttribute(f"code {code} is not a request")


def build_response(
    request: Packet,
    code: int,
    attributes: Attributes,
    secret: bytes,
    *,
    message_authenticator: bool | None = None,
) -> bytes:
    """Encode the response `code` to `request`: same Identifier, Proxy-State echoed last and in order
    (RFC 2865 §5.33), Response Authenticator over it all. Access-Accept/Reject/Challenge carry a Message-Authenticator
    as their first attribute unless refused (RFC 3579 §3.2; first, as the BlastRADIUS advisories recommend).
    """
    if RESPONSE_TO.get(code) != request.code and not (
        request.code == Code.STATUS_SERVER and code in (Code.ACCESS_ACCEPT, Code.ACCOUNTING_RESPONSE)
    ):
        raise InvalidAttribute(f"code {code} does not answer a request of code {request.code}")
    body = encode_attributes(attributes)
    if request.proxy_state:
        body += b"".join([bytes((PROXY_STATE, len(v) + 2)) + v for v in request.proxy_state])
    vector = request.authenticator
    if message_authenticator is None:
        message_authenticator = code in _ACCESS_RESPONSES
    ma_vector = None
    if request.code == Code.STATUS_SERVER:
        ma_vector = vector  # RFC 5997 §3: always signed, with the Status-Server's authenticator, on either port
    elif message_authenticator:
        ma_vector = crypto.message_authenticator_vector(code, vector, vector)
    header, body = _assemble(code, request.identifier, body, secret, ma_vector)
    return header + crypto.response_authenticator(header, vector, body, secret) + body


def verify_request(packet: Packet, secret: bytes, *, require_message_authenticator: bool = False) -> bool:
    """Whether a received request comes from a client holding `secret`.

    Accounting-, Disconnect- and CoA-Requests prove it by their computed Request Authenticator; Access-Requests
    only by a Message-Authenticator, which `require_message_authenticator` (a per-client setting, as in FreeRADIUS)
    or an EAP-Message (RFC 3579 §3.2) makes mandatory; Status-Server always needs one (RFC 5997 §3).
    """
    code = packet.code
    raw = packet.raw
    at = packet.message_authenticator_at
    if code in _REQUESTS_WITH_COMPUTED_AUTHENTICATOR:
        expected = crypto.computed_request_authenticator(raw[:4], raw[HEADER_SIZE:], secret)
        if not crypto.same(expected, packet.authenticator):
            return False
        return at < 0 or crypto.verify_message_authenticator(secret, raw, at, crypto.ZERO_AUTHENTICATOR)
    if code in _REQUESTS_WITH_RANDOM_AUTHENTICATOR:
        if at < 0:
            required = require_message_authenticator or code == Code.STATUS_SERVER
            return not (required or "EAP-Message" in packet.attributes)
        return crypto.verify_message_authenticator(secret, raw, at, packet.authenticator)
    return False


def verify_response(response: Packet, request_authenticator: bytes, secret: bytes) -> bool:
    """Whether `response` answers the request whose Request Authenticator we sent, from a peer holding `secret`."""
    raw = response.raw
    expected = crypto.response_authenticator(raw[:4], request_authenticator, raw[HEADER_SIZE:], secret)
    if not crypto.same(expected, response.authenticator):
        return False
    at = response.message_authenticator_at
    if at < 0:
        return True
    vector = crypto.message_authenticator_vector(response.code, response.authenticator, request_authenticator)
    return crypto.verify_message_authenticator(secret, raw, at, vector)


def reveal_password(packet: Packet, secret: bytes) -> bytes | None:
    """The plaintext User-Password of an Access-Request, or None without one (RFC 2865 §5.2)."""
    hidden = packet.attributes.get("User-Password")
    if not isinstance(hidden, bytes):
        return None
    return crypto.reveal_password(hidden, secret, packet.authenticator)
