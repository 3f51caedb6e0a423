"""Hostile input: whatever bytes arrive, the codec answers with a Packet or MalformedPacket, nothing else."""

from __future__ import annotations

import ipaddress

from hypothesis import given, settings
from hypothesis import strategies as st

from cellplane.protocols import radius
from cellplane.protocols.radius import Code, schema

SECRET = b"fuzz"

VALID = radius.build_request(
    Code.ACCESS_REQUEST,
    1,
    [
        ("User-Name", "001010000012345"),
        ("User-Password", "pw"),
        ("Called-Station-Id", "super"),
        ("Proxy-State", b"p"),
        ("3GPP-IMSI", "001010000012345"),
        ("3GPP-RAT-Type", 6),
        ("3GPP-SGSN-MCC-MNC", "310410"),
        ("Framed-IPv6-Prefix", "2001:db8::/48"),
    ],
    SECRET,
)


def exercise(data: bytes) -> None:
    """Decode and use a packet the way a server would; only MalformedPacket may escape."""
    try:
        packet = radius.decode(data)
    except radius.MalformedPacket:
        return
    assert 20 <= len(packet.raw) <= 4096
    for code in Code:
        packet.code = code
        radius.verify_request(packet, SECRET, require_message_authenticator=True)
        radius.verify_response(packet, bytes(16), SECRET)
    for name in packet.attributes:
        try:
            packet.values(name)  # decode() checked the first value only; later ones may be ill-sized
        except radius.MalformedPacket:
            pass
    try:
        radius.reveal_password(packet, SECRET)
    except radius.MalformedPacket:
        pass


def tlv(kind: int, value: bytes) -> bytes:
    return bytes((kind, len(value) + 2)) + value


def with_header(code: int, attributes: bytes) -> bytes:
    return bytes((code, 7)) + (20 + len(attributes)).to_bytes(2) + bytes(16) + attributes


tlvs = st.lists(
    st.one_of(
        st.builds(tlv, st.integers(0, 255), st.binary(max_size=20)),
        # 3GPP Vendor-Specific with arbitrary (possibly inconsistent) sub-attributes
        st.builds(lambda body: tlv(26, (10415).to_bytes(4) + body), st.binary(max_size=24)),
        st.builds(lambda k, v: tlv(26, (10415).to_bytes(4) + tlv(k, v)), st.integers(0, 40), st.binary(max_size=20)),
        st.binary(min_size=1, max_size=3),  # stray octets that break the TLV chain
    ),
    max_size=12,
).map(b"".join)


@settings(max_examples=400)
@given(st.binary(max_size=300))
def test_arbitrary_bytes(data: bytes) -> None:
    exercise(data)


@settings(max_examples=300)
@given(code=st.sampled_from(list(Code)), attributes=tlvs)
def test_well_framed_packets_with_arbitrary_attributes(code: int, attributes: bytes) -> None:
    exercise(with_header(code, attributes))


@settings(max_examples=300)
@given(st.lists(st.tuples(st.integers(0, len(VALID) - 1), st.integers(0, 255)), min_size=1, max_size=6))
def test_a_valid_packet_with_corrupted_octets(changes: list[tuple[int, int]]) -> None:
    corrupted = bytearray(VALID)
    for offset, octet in changes:
        corrupted[offset] = octet
    exercise(bytes(corrupted))


@given(st.integers(0, len(VALID)), st.binary(max_size=8))
def test_a_valid_packet_cut_or_extended(cut: int, tail: bytes) -> None:
    exercise(VALID[:cut] + tail)


def values_of(definition: schema.AttributeDef) -> st.SearchStrategy[radius.Value]:
    """Values that fit `definition`, the Python type decode returns for it."""
    limit = 247 if definition.vendor else 253
    if definition.type == "string":
        return st.text(max_size=limit // 4)
    if definition.type in ("octets", "password"):
        return st.binary(max_size=limit)
    if definition.type in ("integer", "date"):
        return st.integers(0, 2**32 - 1)
    if definition.type == "byte":
        return st.integers(0, 255)
    if definition.type == "ipaddr":
        return st.ip_addresses(v=4).map(str)
    if definition.type == "ipv6addr":
        return st.ip_addresses(v=6).map(str)
    return st.builds(
        lambda address, bits: str(ipaddress.IPv6Network((address, bits), strict=False)),
        st.ip_addresses(v=6),
        st.integers(0, 128),
    )


# decode() maps the standard and 3GPP attributes into Packet.attributes; other vendors' (WISPr) only Packet.values()
# reads, which test_radius_coa.py covers.
_DECODED = [d for d in schema.ALL if d.code != schema.MESSAGE_AUTHENTICATOR and d.vendor in (0, radius.VENDOR_3GPP)]
attribute_values = st.sampled_from(_DECODED).flatmap(lambda d: st.tuples(st.just(d.name), values_of(d)))


@settings(max_examples=300)
@given(st.lists(attribute_values, max_size=10))
def test_every_attribute_type_round_trips(pairs: list[tuple[str, radius.Value]]) -> None:
    raw = radius.build_request(Code.ACCOUNTING_REQUEST, 3, pairs, SECRET)

    decoded = radius.decode(raw)

    assert radius.verify_request(decoded, SECRET)
    first: dict[str, object] = {}
    for name, value in pairs:
        first.setdefault(name, canonical(name, value))
    assert {name: canonical(name, value) for name, value in decoded.attributes.items()} == first
    for name in first:
        assert [canonical(name, v) for v in decoded.values(name)] == [canonical(n, v) for n, v in pairs if n == name]


def canonical(name: str, value: radius.Value) -> object:
    """IPv6 text has several spellings (::ffff:0:0 is ::ffff:0.0.0.0); compare addresses, not spellings."""
    kind = schema.BY_NAME[name].type
    if kind == "ipv6addr":
        return ipaddress.IPv6Address(str(value))
    if kind == "ipv6prefix":
        return ipaddress.IPv6Network(str(value))
    return value
