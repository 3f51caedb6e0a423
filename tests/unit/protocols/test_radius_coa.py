"""CoA-Request with the WISPr bandwidth attributes (RFC 5176 §3, WISPr 1.0 Appendix D): what the AAA sends to throttle
a session, encoded by our codec and read by pyrad, and the other way round (the gateway reading pyrad's)."""

from __future__ import annotations

from pyrad import packet as pyrad
from pyrad.dictionary import Dictionary

from cellplane.network.gateway.codec import bandwidth
from cellplane.protocols import radius
from cellplane.protocols.radius import Code

SECRET = b"cellplane"
DICTIONARY = Dictionary(str(radius.DICTIONARY))


def test_our_coa_request_is_read_by_pyrad_with_the_rates_and_a_valid_authenticator() -> None:
    attributes = [
        ("User-Name", "310260000000001"),
        ("Acct-Session-Id", "0000ABCD00000001"),
        ("Framed-IP-Address", "10.64.0.7"),
        ("WISPr-Bandwidth-Max-Up", 64_000),
        ("WISPr-Bandwidth-Max-Down", 64_000),
    ]
    raw = radius.build_request(Code.COA_REQUEST, 7, attributes, SECRET)

    parsed = pyrad.CoAPacket(packet=raw, secret=SECRET, dict=DICTIONARY)

    assert parsed.code == pyrad.CoARequest and parsed.VerifyCoARequest()
    assert parsed["WISPr-Bandwidth-Max-Up"] == [64_000] and parsed["WISPr-Bandwidth-Max-Down"] == [64_000]
    assert parsed["User-Name"] == ["310260000000001"]
    # On the wire: Vendor-Specific (26) with Vendor-Id 14122, sub-attribute 7, length 6, the rate in 4 octets.
    assert bytes((26, 12)) + (14122).to_bytes(4) + bytes((7, 6)) + (64_000).to_bytes(4) in raw


def test_a_pyrad_coa_request_is_decoded_and_its_rates_read() -> None:
    request = pyrad.CoAPacket(code=pyrad.CoARequest, secret=SECRET, dict=DICTIONARY)
    request["User-Name"] = "310260000000001"
    request["WISPr-Bandwidth-Max-Down"] = 128_000
    raw = request.RequestPacket()

    packet = radius.decode(raw)

    assert radius.verify_request(packet, SECRET)
    assert packet.values("WISPr-Bandwidth-Max-Down") == [128_000]
    assert "WISPr-Bandwidth-Max-Up" not in packet  # other vendors stay out of `attributes`: values() reads them
    assert bandwidth(packet) == (None, 128_000)


def test_no_rate_and_a_lifted_rate_are_told_apart() -> None:
    plain = radius.decode(radius.build_request(Code.COA_REQUEST, 1, [("User-Name", "310260000000001")], SECRET))
    assert bandwidth(plain) is None
    lifted = [("WISPr-Bandwidth-Max-Up", 0), ("WISPr-Bandwidth-Max-Down", 0)]
    assert bandwidth(radius.decode(radius.build_request(Code.COA_REQUEST, 2, lifted, SECRET))) == (0, 0)


def test_an_access_accept_carries_the_rates_to_the_gateway() -> None:
    request = radius.decode(radius.build_request(Code.ACCESS_REQUEST, 3, [("User-Name", "310260000000001")], SECRET))
    rates = [("WISPr-Bandwidth-Max-Up", 64_000), ("WISPr-Bandwidth-Max-Down", 64_000)]
    answer = radius.build_response(request, Code.ACCESS_ACCEPT, [("Framed-IP-Address", "10.64.0.7"), *rates], SECRET)
    parsed = pyrad.Packet(packet=answer, secret=SECRET, dict=DICTIONARY)
    assert parsed["WISPr-Bandwidth-Max-Up"] == [64_000]
    assert bandwidth(radius.decode(answer)) == (64_000, 64_000)
