"""The RADIUS codec on its own: 3GPP attributes, authenticators, Message-Authenticator, and what it refuses."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cellplane.protocols import radius
from cellplane.protocols.radius import Code, crypto

SECRET = b"s3cr3t"

PGW_ACCESS: list[tuple[str, radius.Value]] = [
    ("User-Name", "001010000012345"),
    ("User-Password", "pw"),
    ("NAS-IP-Address", "127.0.0.1"),
    ("Called-Station-Id", "super"),
    ("Calling-Station-Id", "882360000012345"),
    ("Framed-Protocol", 7),
    ("3GPP-IMSI", "001010000012345"),
    ("3GPP-IMEISV", "3526860000123401"),
    ("3GPP-SGSN-MCC-MNC", "310410"),
    ("3GPP-RAT-Type", radius.RatType.LTE_M),
    ("3GPP-Charging-Id", 0xDEADBEEF),
    ("3GPP-PDP-Type", radius.PdpType.IPV4),
    ("3GPP-SGSN-Address", "127.0.0.2"),
    ("3GPP-User-Location-Info", bytes.fromhex("8213f01400011300f0140000a001")),
    ("3GPP-MS-TimeZone", b"\x40\x00"),
]


def access_request(message_authenticator: bool | None = None) -> radius.Packet:
    raw = radius.build_request(Code.ACCESS_REQUEST, 9, PGW_ACCESS, SECRET, message_authenticator=message_authenticator)
    return radius.decode(raw)


def vsa(vendor: int, *subs: tuple[int, bytes]) -> bytes:
    body = vendor.to_bytes(4) + b"".join(bytes((t, len(v) + 2)) + v for t, v in subs)
    return bytes((26, len(body) + 2)) + body


def packet(code: int, attributes: bytes, authenticator: bytes = bytes(16), identifier: int = 1) -> bytes:
    return bytes((code, identifier)) + (20 + len(attributes)).to_bytes(2) + authenticator + attributes


# --- 3GPP vendor-specific attributes (TS 29.061 §16.4.7)


def test_3gpp_attributes_decode_to_typed_values() -> None:
    request = access_request()

    assert request.attributes["3GPP-IMSI"] == "001010000012345"
    assert request.attributes["3GPP-IMEISV"] == "3526860000123401"
    assert request.attributes["3GPP-SGSN-MCC-MNC"] == "310410"
    assert request.attributes["3GPP-RAT-Type"] == 9
    assert request.attributes["3GPP-Charging-Id"] == 0xDEADBEEF
    assert request.attributes["3GPP-PDP-Type"] == 0
    assert request.attributes["3GPP-SGSN-Address"] == "127.0.0.2"
    assert request.attributes["3GPP-User-Location-Info"] == bytes.fromhex("8213f01400011300f0140000a001")
    assert request.attributes["3GPP-MS-TimeZone"] == b"\x40\x00"
    assert request.attributes["Called-Station-Id"] == "super"
    assert radius.reveal_password(request, SECRET) == b"pw"


def test_each_3gpp_attribute_travels_in_its_own_vendor_specific_attribute() -> None:
    encoded = radius.encode_attributes([("3GPP-IMSI", "001010000012345"), ("3GPP-RAT-Type", 6)])

    # RFC 2865 §5.26 layout: 26, Length, Vendor-Id 10415, Vendor type, Vendor length, value.
    assert encoded == vsa(10415, (1, b"001010000012345")) + vsa(10415, (21, b"\x06"))


def test_several_3gpp_sub_attributes_in_one_vendor_specific_attribute_all_decode() -> None:
    raw = packet(Code.ACCOUNTING_REQUEST, vsa(10415, (1, b"001019999999999"), (18, b"23415"), (21, b"\x08")))

    decoded = radius.decode(raw)

    assert decoded.attributes == {"3GPP-IMSI": "001019999999999", "3GPP-SGSN-MCC-MNC": "23415", "3GPP-RAT-Type": 8}


def test_other_vendors_and_unknown_attributes_are_kept_raw_only() -> None:
    raw = packet(Code.ACCOUNTING_REQUEST, vsa(9, (1, b"cisco-avpair")) + bytes((200, 4, 1, 2)) + b"\x01\x03x")

    decoded = radius.decode(raw)

    assert decoded.attributes == {"User-Name": "x"}
    assert decoded.raw_attributes() == [(26, (9).to_bytes(4) + b"\x01\x0ecisco-avpair"), (200, b"\x01\x02"), (1, b"x")]


def test_the_first_value_is_the_attribute_and_values_lists_them_all() -> None:
    body = radius.encode_attributes([("Class", b"one"), ("User-Name", "a"), ("Class", b"two"), ("3GPP-IMSI", "1")])
    body += vsa(10415, (1, b"2"))
    decoded = radius.decode(packet(Code.ACCESS_ACCEPT, body))

    assert decoded.attributes["Class"] == b"one"
    assert decoded.values("Class") == [b"one", b"two"]
    assert decoded.values("3GPP-IMSI") == ["1", "2"]
    assert decoded.values("Reply-Message") == []


def test_asking_for_an_attribute_the_dictionary_lacks_is_an_error_not_a_silent_none() -> None:
    decoded = access_request()

    assert decoded.get("3GPP-IMSI") == "001010000012345"
    assert decoded.get("Framed-IP-Address") is None
    with pytest.raises(KeyError):
        decoded.get("3GPP-IMEI")


def test_text_that_is_not_utf8_survives_a_round_trip() -> None:
    raw = packet(Code.ACCOUNTING_REQUEST, bytes((32, 5)) + b"\xffab")

    name = radius.decode(raw).attributes["NAS-Identifier"]

    assert isinstance(name, str)
    assert radius.encode_attributes([("NAS-Identifier", name)]) == bytes((32, 5)) + b"\xffab"


# --- Message-Authenticator (RFC 3579 §3.2) and authenticators


def test_access_requests_carry_a_message_authenticator_that_verifies() -> None:
    request = access_request()

    assert request.message_authenticator_at == 22  # the first attribute
    assert radius.verify_request(request, SECRET)
    assert not radius.verify_request(request, b"wrong")


def test_message_authenticator_is_hmac_md5_over_the_packet_with_itself_zeroed() -> None:
    request = access_request()
    at = request.message_authenticator_at
    zeroed = request.raw[:at] + bytes(16) + request.raw[at + 16 :]

    assert request.raw[at : at + 16] == hmac.digest(SECRET, zeroed, "md5")


@pytest.mark.parametrize("offset", [1, 4, 19, 30, -1])
def test_a_tampered_access_request_fails_verification(offset: int) -> None:
    raw = bytearray(access_request().raw)
    raw[offset] ^= 0x01

    assert not radius.verify_request(radius.decode(bytes(raw)), SECRET)


def test_an_access_request_without_message_authenticator_is_accepted_only_when_not_required() -> None:
    request = access_request(message_authenticator=False)

    assert request.message_authenticator_at == -1
    assert radius.verify_request(request, SECRET)
    assert radius.verify_request(request, b"anything: nothing proves the secret")
    assert not radius.verify_request(request, SECRET, require_message_authenticator=True)


def test_eap_without_message_authenticator_is_refused() -> None:
    raw = radius.build_request(
        Code.ACCESS_REQUEST, 1, [("EAP-Message", b"\x02\x01\x00\x05\x01")], SECRET, message_authenticator=False
    )

    assert not radius.verify_request(radius.decode(raw), SECRET)


@pytest.mark.parametrize("code", [Code.ACCOUNTING_REQUEST, Code.DISCONNECT_REQUEST, Code.COA_REQUEST])
@pytest.mark.parametrize("signed", [False, True])
def test_computed_request_authenticators_verify(code: int, signed: bool) -> None:
    attributes = [("Acct-Session-Id", "abc"), ("User-Name", "001010000012345")]
    raw = radius.build_request(code, 200, attributes, SECRET, message_authenticator=signed)
    expected = hashlib.md5(raw[:4] + bytes(16) + raw[20:] + SECRET).digest()  # RFC 2866 §3 / RFC 5176 §3.3

    decoded = radius.decode(raw)

    assert decoded.authenticator == expected
    assert (decoded.message_authenticator_at >= 0) == signed
    assert radius.verify_request(decoded, SECRET)
    assert not radius.verify_request(decoded, b"wrong")
    tampered = raw[:-1] + bytes((raw[-1] ^ 1,))
    assert not radius.verify_request(radius.decode(tampered), SECRET)


def test_responses_are_not_requests() -> None:
    accept = radius.decode(radius.build_response(access_request(), Code.ACCESS_ACCEPT, [], SECRET))

    assert not radius.verify_request(accept, SECRET)


def test_status_server_needs_a_message_authenticator() -> None:
    signed = radius.decode(radius.build_request(Code.STATUS_SERVER, 1, [("NAS-Identifier", "x")], SECRET))
    unsigned = radius.decode(
        radius.build_request(Code.STATUS_SERVER, 1, [("NAS-Identifier", "x")], SECRET, message_authenticator=False)
    )

    assert radius.verify_request(signed, SECRET)
    assert not radius.verify_request(unsigned, SECRET)
    answer = radius.decode(radius.build_response(signed, Code.ACCESS_ACCEPT, [], SECRET))
    assert answer.message_authenticator_at >= 0
    assert radius.verify_response(answer, signed.authenticator, SECRET)


# --- responses


def test_access_accept_is_signed_first_and_answers_its_request() -> None:
    request = access_request()

    raw = radius.build_response(request, Code.ACCESS_ACCEPT, [("Framed-IP-Address", "10.64.0.7")], SECRET)
    accept = radius.decode(raw)

    assert (accept.code, accept.identifier) == (Code.ACCESS_ACCEPT, request.identifier)
    assert accept.message_authenticator_at == 22
    assert accept.attributes["Framed-IP-Address"] == "10.64.0.7"
    assert radius.verify_response(accept, request.authenticator, SECRET)
    assert not radius.verify_response(accept, request.authenticator, b"wrong")
    assert not radius.verify_response(accept, bytes(16), SECRET)


def test_a_response_whose_message_authenticator_was_forged_fails() -> None:
    request = access_request()
    raw = bytearray(radius.build_response(request, Code.ACCESS_REJECT, [("Reply-Message", "no")], SECRET))
    raw[23] ^= 0xFF  # inside the Message-Authenticator
    body = bytes(raw[20:])
    raw[4:20] = crypto.response_authenticator(bytes(raw[:4]), request.authenticator, body, SECRET)  # re-sealed

    assert not radius.verify_response(radius.decode(bytes(raw)), request.authenticator, SECRET)


def test_proxy_state_is_echoed_last_and_in_order() -> None:
    body = radius.encode_attributes([("Proxy-State", b"first"), ("User-Name", "u"), ("Proxy-State", b"second")])
    request = radius.decode(packet(Code.ACCOUNTING_REQUEST, body))

    response = radius.decode(radius.build_response(request, Code.ACCOUNTING_RESPONSE, [], SECRET))

    assert request.proxy_state == (b"first", b"second")
    assert response.raw_attributes() == [(33, b"first"), (33, b"second")]


@pytest.mark.parametrize(
    ("request_code", "response_code"),
    [
        (Code.DISCONNECT_REQUEST, Code.DISCONNECT_ACK),
        (Code.DISCONNECT_REQUEST, Code.DISCONNECT_NAK),
        (Code.COA_REQUEST, Code.COA_NAK),
        (Code.ACCOUNTING_REQUEST, Code.ACCOUNTING_RESPONSE),
    ],
)
def test_dynamic_authorization_and_accounting_answers_verify(request_code: int, response_code: int) -> None:
    sent = radius.build_request(request_code, 17, [("Acct-Session-Id", "s-1")], SECRET)
    received = radius.decode(sent)
    extra = [("Error-Cause", radius.ErrorCause.SESSION_CONTEXT_NOT_FOUND)] if response_code % 2 == 0 else []

    answer = radius.decode(radius.build_response(received, response_code, extra, SECRET))

    assert answer.message_authenticator_at == -1
    assert radius.verify_response(answer, sent[4:20], SECRET)
    assert answer.attributes == dict(extra)


def test_a_response_code_must_answer_the_request() -> None:
    with pytest.raises(radius.InvalidAttribute):
        radius.build_response(access_request(), Code.ACCOUNTING_RESPONSE, [], SECRET)


# --- what the codec refuses


@pytest.mark.parametrize(
    ("attribute", "value"),
    [
        ("No-Such-Attribute", "x"),
        ("NAS-Port", -1),
        ("NAS-Port", 1 << 32),
        ("NAS-Port", "3"),
        ("NAS-Port", True),
        ("3GPP-RAT-Type", 256),
        ("Framed-IP-Address", "10.0.0.256"),
        ("Framed-IP-Address", "::1"),
        ("Framed-IP-Address", b"\x0a\x00\x00\x01"),
        ("NAS-IPv6-Address", "10.0.0.1"),
        ("Framed-IPv6-Prefix", "2001:db8::/129"),
        ("Framed-IPv6-Prefix", "2001:db8::"),
        ("Class", "text is not octets"),
        ("Reply-Message", "x" * 254),
        ("3GPP-IMSI", "1" * 248),
        ("User-Name", 12),
    ],
)
def test_attributes_that_cannot_be_encoded_are_refused(attribute: str, value: object) -> None:
    with pytest.raises(radius.InvalidAttribute):
        radius.encode_attributes([(attribute, value)])  # type: ignore[list-item]


def test_the_largest_values_fit() -> None:
    encoded = radius.encode_attributes([("Reply-Message", "x" * 253), ("3GPP-IMSI", "1" * 247)])

    assert radius.decode(packet(Code.ACCESS_REJECT, encoded)).attributes == {
        "Reply-Message": "x" * 253,
        "3GPP-IMSI": "1" * 247,
    }


def test_a_packet_over_4096_octets_cannot_be_built() -> None:
    with pytest.raises(radius.InvalidAttribute):
        radius.build_request(Code.ACCOUNTING_REQUEST, 1, [("Class", bytes(253))] * 17, SECRET)


def test_non_requests_and_bad_identifiers_cannot_be_built_as_requests() -> None:
    with pytest.raises(radius.InvalidAttribute):
        radius.build_request(Code.ACCESS_ACCEPT, 1, [], SECRET)
    with pytest.raises(radius.InvalidAttribute):
        radius.build_request(Code.ACCESS_REQUEST, 256, [], SECRET)


@pytest.mark.parametrize(
    ("label", "raw"),
    [
        ("empty", b""),
        ("short header", bytes(19)),
        ("length under 20", packet(1, b"")[:2] + (19).to_bytes(2) + bytes(16)),
        ("length over 4096", bytes((1, 1)) + (4097).to_bytes(2) + bytes(4093)),
        ("length beyond the datagram", packet(1, b"\x01\x03x")[:-1]),
        ("attribute length 0", packet(1, b"\x01\x00")),
        ("attribute length 1", packet(1, b"\x01\x01")),
        ("attribute overruns the packet", packet(1, b"\x01\x05ab")),
        ("lone type octet", packet(1, b"\x01\x03x\x05")),
        ("integer of 3 octets", packet(4, b"\x05\x05\x00\x00\x01")),
        ("IPv4 address of 5 octets", packet(4, b"\x08\x07" + bytes(5))),
        ("byte of 2 octets", packet(4, vsa(10415, (21, b"\x06\x06")))),
        ("IPv6 address of 4 octets", packet(4, b"\x5f\x06" + bytes(4))),
        ("IPv6 prefix longer than 128", packet(4, b"\x61\x04\x00\x81")),
        ("IPv6 prefix missing octets", packet(4, b"\x61\x04\x00\x40")),
        ("short Message-Authenticator", packet(1, b"\x50\x06abcd")),
        ("two Message-Authenticators", packet(1, (b"\x50\x12" + bytes(16)) * 2)),
        ("3GPP sub-attribute overrun", packet(4, bytes((26, 10)) + (10415).to_bytes(4) + b"\x01\x05ab")),
        ("3GPP sub-attribute length 1", packet(4, bytes((26, 8)) + (10415).to_bytes(4) + b"\x01\x01")),
        ("3GPP lone sub-attribute type", packet(4, bytes((26, 7)) + (10415).to_bytes(4) + b"\x01")),
    ],
)
def test_malformed_packets_raise_malformed_packet(label: str, raw: bytes) -> None:
    with pytest.raises(radius.MalformedPacket):
        radius.decode(raw)


def test_octets_after_length_are_padding() -> None:
    raw = packet(Code.ACCOUNTING_REQUEST, b"\x01\x03x")

    decoded = radius.decode(raw + b"\x01\x05padding")

    assert decoded.raw == raw
    assert decoded.attributes == {"User-Name": "x"}


def test_a_bytearray_or_memoryview_decodes_like_bytes() -> None:
    raw = access_request().raw

    assert radius.decode(bytearray(raw)) == radius.decode(memoryview(raw)) == radius.decode(raw)


# --- the HMAC shortcut


@given(key=st.binary(max_size=100), message=st.binary(max_size=300))
def test_cached_hmac_md5_equals_the_standard_library(key: bytes, message: bytes) -> None:
    assert crypto.hmac_md5(key, message) == hmac.digest(key, message, "md5")
