"""RADIUS standards test vectors: the packets of RFC 2865 §7 and the User-Password hiding of RFC 2865 §5.2."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cellplane.protocols import radius
from cellplane.protocols.radius import crypto


def hexbytes(text: str) -> bytes:
    return bytes.fromhex(" ".join(text.split()))


# RFC 2865 §7.1 "User Telnet to Specified Host": the NAS at 192.168.1.16 sends an Access-Request for user nemo,
# password "arctangent", on port 3, with the shared secret "xyzzy5461"; the server answers with an Access-Accept.
SECRET = b"xyzzy5461"
ACCESS_REQUEST = hexbytes(
    """01 00 00 38 0f 40 3f 94 73 97 80 57 bd 83 d5 cb
       98 f4 22 7a 01 06 6e 65 6d 6f 02 12 0d be 70 8d
       93 d4 13 ce 31 96 e4 3f 78 2a 0a ee 04 06 c0 a8
       01 10 05 06 00 00 00 03"""
)
ACCESS_ACCEPT = hexbytes(
    """02 00 00 26 86 fe 22 0e 76 24 ba 2a 10 05 f6 bf
       9b 55 e0 b2 06 06 00 00 00 01 0f 06 00 00 00 00
       0e 06 c0 a8 01 03"""
)
REQUEST_AUTHENTICATOR = hexbytes("0f 40 3f 94 73 97 80 57 bd 83 d5 cb 98 f4 22 7a")
HIDDEN_ARCTANGENT = hexbytes("0d be 70 8d 93 d4 13 ce 31 96 e4 3f 78 2a 0a ee")
ACCEPT_ATTRIBUTES: list[tuple[str, radius.Value]] = [
    ("Service-Type", 1),
    ("Login-Service", 0),
    ("Login-IP-Host", "192.168.1.3"),
]

# RFC 2865 §7.2 "Framed User Authenticating with CHAP" (request) and §7.3 "User with Challenge-Response card"
# (the Access-Challenge).
CHAP_REQUEST = hexbytes(
    """01 01 00 47 2a ee 86 f0 8d 0d 55 96 9c a5 97 8e
       0d 33 67 a2 01 08 66 6c 6f 70 73 79 03 13 16 e9
       75 57 c3 16 18 58 95 f2 93 ff 63 44 07 72 75 04
       06 c0 a8 01 10 05 06 00 00 00 14 06 06 00 00 00
       02 07 06 00 00 00 01"""
)
ACCESS_CHALLENGE = hexbytes(
    """0b 02 00 4e 36 f3 c8 76 4a e8 c7 11 57 40 3c 0c
       71 ff 9c 45 12 30 43 68 61 6c 6c 65 6e 67 65 20
       33 32 37 36 39 34 33 30 2e 20 20 45 6e 74 65 72
       20 72 65 73 70 6f 6e 73 65 20 61 74 20 70 72 6f
       6d 70 74 2e 18 0a 33 32 37 36 39 34 33 30"""
)


def test_rfc2865_7_1_access_request_decodes() -> None:
    packet = radius.decode(ACCESS_REQUEST)

    assert (packet.code, packet.identifier) == (radius.Code.ACCESS_REQUEST, 0)
    assert packet.authenticator == REQUEST_AUTHENTICATOR
    assert packet.attributes == {
        "User-Name": "nemo",
        "User-Password": HIDDEN_ARCTANGENT,
        "NAS-IP-Address": "192.168.1.16",
        "NAS-Port": 3,
    }
    assert radius.reveal_password(packet, SECRET) == b"arctangent"
    assert packet.message_authenticator_at == -1 and packet.proxy_state == ()


def test_rfc2865_7_1_access_request_encodes_byte_for_byte() -> None:
    attributes = [("User-Name", "nemo"), ("User-Password", "arctangent"), ("NAS-IP-Address", "192.168.1.16")]
    built = radius.build_request(
        radius.Code.ACCESS_REQUEST,
        0,
        [*attributes, ("NAS-Port", 3)],
        SECRET,
        authenticator=REQUEST_AUTHENTICATOR,
        message_authenticator=False,  # RFC 2865 predates RFC 3579
    )

    assert built == ACCESS_REQUEST


def test_rfc2865_7_1_access_accept_is_built_and_verified() -> None:
    request = radius.decode(ACCESS_REQUEST)

    built = radius.build_response(
        request, radius.Code.ACCESS_ACCEPT, ACCEPT_ATTRIBUTES, SECRET, message_authenticator=False
    )

    assert built == ACCESS_ACCEPT
    accept = radius.decode(ACCESS_ACCEPT)
    assert radius.verify_response(accept, REQUEST_AUTHENTICATOR, SECRET)
    assert not radius.verify_response(accept, REQUEST_AUTHENTICATOR, b"xyzzy5462")
    assert not radius.verify_response(accept, bytes(16), SECRET)
    assert accept.attributes == dict(ACCEPT_ATTRIBUTES)


def test_rfc2865_7_1_response_authenticator_is_md5_of_the_response_and_secret() -> None:
    # RFC 2865 §3: MD5(Code+ID+Length+RequestAuth+Attributes+Secret), recomputed here by hand.
    expected = hashlib.md5(ACCESS_ACCEPT[:4] + REQUEST_AUTHENTICATOR + ACCESS_ACCEPT[20:] + SECRET).digest()

    assert ACCESS_ACCEPT[4:20] == expected


def test_rfc2865_7_2_chap_request_decodes() -> None:
    packet = radius.decode(CHAP_REQUEST)

    assert (packet.code, packet.identifier) == (radius.Code.ACCESS_REQUEST, 1)
    chap = packet.attributes["CHAP-Password"]
    assert isinstance(chap, bytes) and len(chap) == 17 and chap[0] == 0x16  # CHAP Ident + 16-octet response
    assert packet.attributes["User-Name"] == "flopsy"
    assert packet.attributes["NAS-IP-Address"] == "192.168.1.16"
    assert packet.attributes["NAS-Port"] == 20
    assert packet.attributes["Service-Type"] == 2  # Framed-User
    assert packet.attributes["Framed-Protocol"] == 1  # PPP
    assert radius.reveal_password(packet, SECRET) is None


def test_rfc2865_7_3_access_challenge_decodes() -> None:
    packet = radius.decode(ACCESS_CHALLENGE)

    assert (packet.code, packet.identifier) == (radius.Code.ACCESS_CHALLENGE, 2)
    assert packet.attributes == {
        "Reply-Message": "Challenge 32769430.  Enter response at prompt.",
        "State": b"32769430",
    }


def test_user_password_hiding_matches_rfc2865_7_1() -> None:
    assert crypto.hide_password("arctangent", SECRET, REQUEST_AUTHENTICATOR) == HIDDEN_ARCTANGENT
    assert crypto.reveal_password(HIDDEN_ARCTANGENT, SECRET, REQUEST_AUTHENTICATOR) == b"arctangent"


def test_user_password_of_more_than_one_block_chains_the_ciphertext() -> None:
    # RFC 2865 §5.2: c(i) = p(i) xor MD5(S + c(i-1)); computed here block by block, independently of crypto.py.
    password = b"a password that spans three md5 blocks"
    padded = password + bytes(48 - len(password))
    previous, expected = REQUEST_AUTHENTICATOR, b""
    for start in (0, 16, 32):
        pad = hashlib.md5(SECRET + previous).digest()
        previous = bytes(p ^ k for p, k in zip(padded[start : start + 16], pad, strict=True))
        expected += previous

    assert crypto.hide_password(password, SECRET, REQUEST_AUTHENTICATOR) == expected


@given(
    password=st.binary(max_size=128).map(lambda b: b.rstrip(b"\0")),
    authenticator=st.binary(min_size=16, max_size=16),
)
def test_user_password_round_trips(password: bytes, authenticator: bytes) -> None:
    hidden = crypto.hide_password(password, SECRET, authenticator)

    assert len(hidden) % 16 == 0 and 16 <= len(hidden) <= 128
    assert crypto.reveal_password(hidden, SECRET, authenticator) == password


@pytest.mark.parametrize("size", [0, 15, 17, 144])
def test_a_hidden_password_of_impossible_length_is_malformed(size: int) -> None:
    with pytest.raises(radius.MalformedPacket):
        crypto.reveal_password(bytes(size), SECRET, REQUEST_AUTHENTICATOR)


def test_a_password_longer_than_128_octets_cannot_be_sent() -> None:
    with pytest.raises(radius.InvalidAttribute):
        crypto.hide_password(b"x" * 129, SECRET, REQUEST_AUTHENTICATOR)
