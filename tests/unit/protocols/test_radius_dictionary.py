"""The dictionary files: loadable by pyrad and by FreeRADIUS's radclient, and in step with the codec's own table."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading

import pytest
from pyrad.dictionary import Dictionary

from cellplane.protocols import radius
from cellplane.protocols.radius import schema
from cellplane.protocols.radius.values import DECODERS, ENCODERS

# pyrad's name for each of our data types; User-Password is a string hidden with encrypt=1.
PYRAD_TYPE = {"password": "string"}


@pytest.fixture(scope="module")
def dictionary() -> Dictionary:
    return Dictionary(str(radius.DICTIONARY))


def test_every_codec_attribute_is_in_the_dictionary_with_the_same_number_vendor_and_type(
    dictionary: Dictionary,
) -> None:
    for definition in schema.ALL:
        loaded = dictionary[definition.name]
        vendor = dictionary.vendors.GetForward(loaded.vendor)
        assert (loaded.code, vendor) == (definition.code, definition.vendor), definition.name
        assert loaded.type == PYRAD_TYPE.get(definition.type, definition.type), definition.name
        assert loaded.encrypt == (1 if definition.type == "password" else 0), definition.name


def test_every_dictionary_attribute_is_known_to_the_codec(dictionary: Dictionary) -> None:
    assert set(dictionary.attributes) == {d.name for d in schema.ALL}
    # Vendor-Specific is the container of the 3GPP attributes: FreeRADIUS needs its "vsa" type to decode them in
    # replies; pyrad skips the type and handles attribute 26 by number.
    assert dictionary.skipped_attributes == {"Vendor-Specific"}


def test_the_3gpp_vendor_and_the_values_we_use_are_defined(dictionary: Dictionary) -> None:
    assert dictionary.vendors.GetForward("3GPP") == radius.VENDOR_3GPP
    assert dictionary.attrindex.GetForward("3GPP-SGSN-MCC-MNC") == (radius.VENDOR_3GPP, 18)
    enumerations = {
        "Acct-Status-Type": radius.AcctStatusType,
        "Error-Cause": radius.ErrorCause,
        "3GPP-RAT-Type": radius.RatType,
        "3GPP-PDP-Type": radius.PdpType,
        "Acct-Terminate-Cause": radius.AcctTerminateCause,
    }
    for attribute, enum in enumerations.items():
        named = {int.from_bytes(v) for v in dictionary[attribute].values.backward}
        assert {int(member) for member in enum} <= named, attribute


def test_every_data_type_has_a_decoder_and_an_encoder() -> None:
    assert set(DECODERS) == set(ENCODERS) == schema.TYPES
    assert {d.type for d in schema.ALL} <= schema.TYPES


def test_the_dictionary_is_packaged() -> None:
    assert radius.DICTIONARY.is_file()
    assert radius.DICTIONARY.with_name("dictionary.3gpp").is_file()


def serve_once(sock: socket.socket, seen: list[radius.Packet], secret: bytes) -> None:
    """Answer one request with our codec: Access-Accept with an address, or Accounting-Response."""
    data, peer = sock.recvfrom(4096)
    request = radius.decode(data)
    seen.append(request)
    if request.code == radius.Code.ACCESS_REQUEST:
        attributes = [("Framed-IP-Address", "10.64.0.9"), ("3GPP-IMSI-MCC-MNC", "00101")]
        sock.sendto(radius.build_response(request, radius.Code.ACCESS_ACCEPT, attributes, secret), peer)
    else:
        sock.sendto(radius.build_response(request, radius.Code.ACCOUNTING_RESPONSE, [], secret), peer)


def target(sock: socket.socket, kind: str, secret: bytes) -> list[str]:
    return [f"127.0.0.1:{sock.getsockname()[1]}", kind, secret.decode()]


@pytest.mark.parametrize(
    ("kind", "attributes"),
    [
        (
            "auth",
            'User-Name = "001010000012345", 3GPP-IMSI = "001010000012345", 3GPP-RAT-Type = LTE-M, '
            '3GPP-SGSN-MCC-MNC = "310410", Called-Station-Id = "super", Message-Authenticator = 0x00',
        ),
        (
            "acct",
            'Acct-Status-Type = Interim-Update, Acct-Session-Id = "s-1", Acct-Input-Octets = 1000, '
            'Acct-Output-Gigawords = 1, 3GPP-IMEISV = "3526860000123401"',
        ),
    ],
)
def test_radclient_speaks_our_dictionary_and_accepts_our_answers(kind: str, attributes: str) -> None:
    radclient = shutil.which("radclient")
    if radclient is None:
        pytest.skip("FreeRADIUS radclient is not installed (Debian package freeradius-utils)")
    secret = b"radclient-secret"
    seen: list[radius.Packet] = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(10)
        server = threading.Thread(target=serve_once, args=(sock, seen, secret), daemon=True)
        server.start()
        # -D: the dictionary directory; radclient reads the file "dictionary" in it (and our $INCLUDE).
        result = subprocess.run(
            [radclient, "-D", str(radius.DICTIONARY.parent), "-x", "-r", "1", "-t", "5", *target(sock, kind, secret)],
            input=attributes,
            capture_output=True,
            text=True,
            timeout=20,
        )
        server.join(timeout=10)

    assert result.returncode == 0, result.stdout + result.stderr
    assert len(seen) == 1 and radius.verify_request(seen[0], secret, require_message_authenticator=kind == "auth")
    if kind == "auth":
        assert "Received Access-Accept" in result.stdout
        assert "Framed-IP-Address = 10.64.0.9" in result.stdout
        assert '3GPP-IMSI-MCC-MNC = "00101"' in result.stdout
        assert seen[0].attributes["3GPP-RAT-Type"] == radius.RatType.LTE_M
        assert seen[0].attributes["3GPP-SGSN-MCC-MNC"] == "310410"
    else:
        assert "Received Accounting-Response" in result.stdout
        assert seen[0].attributes["Acct-Status-Type"] == radius.AcctStatusType.INTERIM_UPDATE
        assert seen[0].attributes["Acct-Output-Gigawords"] == 1
        assert seen[0].attributes["3GPP-IMEISV"] == "3526860000123401"
