"""Our codec against pyrad as an independent peer: what pyrad sends we read, what we send pyrad accepts."""

from __future__ import annotations

import pytest
from pyrad import packet as pyrad
from pyrad import tools
from pyrad.dictionary import Dictionary

from cellplane.protocols import radius
from cellplane.protocols.radius import Code

SECRET = b"interop-secret"

PGW_ATTRIBUTES: dict[str, radius.Value] = {
    "User-Name": "001010000012345",
    "NAS-IP-Address": "127.0.0.1",
    "NAS-Identifier": "pgw-1",
    "Service-Type": 2,
    "Framed-Protocol": 7,
    "Called-Station-Id": "super",
    "Calling-Station-Id": "882360000012345",
    "3GPP-IMSI": "001010000012345",
    "3GPP-Charging-Id": 4242,
    "3GPP-PDP-Type": 0,
    "3GPP-GGSN-Address": "127.0.0.3",
    "3GPP-NSAPI": "5",
    "3GPP-Selection-Mode": "0",
    "3GPP-Charging-Characteristics": "0800",
    "3GPP-SGSN-MCC-MNC": "23415",
    "3GPP-IMEISV": "3526860000123401",
    "3GPP-RAT-Type": 6,
    "3GPP-User-Location-Info": bytes.fromhex("8232f45400011332f454000abcde"),
    "3GPP-MS-TimeZone": b"\x40\x00",
    "3GPP-Session-Stop-Indicator": 255,
}

USAGE: dict[str, radius.Value] = {
    "Acct-Session-Id": "7f000001-0000002a",
    "Acct-Input-Octets": 4_000_000_000,
    "Acct-Output-Octets": 17,
    "Acct-Input-Gigawords": 2,
    "Acct-Output-Gigawords": 0,
    "Acct-Input-Packets": 3_000_000,
    "Acct-Output-Packets": 12,
    "Acct-Session-Time": 3600,
    "Event-Timestamp": 1_767_225_600,
    "Framed-IP-Address": "10.64.0.7",
}


@pytest.fixture(scope="module")
def dictionary() -> Dictionary:
    return Dictionary(str(radius.DICTIONARY))


def pyrad_access_request(dictionary: Dictionary, **extra: object) -> pyrad.AuthPacket:
    request = pyrad.AuthPacket(pyrad.AccessRequest, id=33, secret=SECRET, dict=dictionary)
    for name, value in {**PGW_ATTRIBUTES, **extra}.items():
        request[name] = value
    request["User-Password"] = request.PwCrypt("open sesame")
    request.add_message_authenticator()
    return request


def named(dictionary: Dictionary, name: str, value: object) -> object:
    """A value as pyrad shows it: enumerated integers by their VALUE name."""
    attribute = dictionary[name]
    encoded = tools.EncodeAttr(attribute.type, value)
    return attribute.values.GetBackward(encoded) if attribute.values.HasBackward(encoded) else value


# --- pyrad sends, we read


def test_a_pyrad_access_request_decodes_with_every_3gpp_attribute(dictionary: Dictionary) -> None:
    sent = pyrad_access_request(dictionary)

    received = radius.decode(sent.RequestPacket())

    assert received.code == Code.ACCESS_REQUEST and received.identifier == 33
    for name, value in PGW_ATTRIBUTES.items():
        assert received.attributes[name] == value, name
    assert radius.reveal_password(received, SECRET) == b"open sesame"
    assert radius.verify_request(received, SECRET, require_message_authenticator=True)
    assert not radius.verify_request(received, b"not-the-secret")


@pytest.mark.parametrize("status", list(radius.AcctStatusType)[:3])
def test_pyrad_accounting_requests_decode_and_verify(dictionary: Dictionary, status: int) -> None:
    sent = pyrad.AcctPacket(id=7, secret=SECRET, dict=dictionary)
    for name, value in {**PGW_ATTRIBUTES, **USAGE, "Acct-Status-Type": status}.items():
        sent[name] = value

    received = radius.decode(sent.RequestPacket())

    assert radius.verify_request(received, SECRET)
    assert not radius.verify_request(received, b"not-the-secret")
    assert received.attributes["Acct-Status-Type"] == status
    for name, value in USAGE.items():
        assert received.attributes[name] == value, name


@pytest.mark.parametrize("signed", [False, True])
@pytest.mark.parametrize(("code", "extra"), [(Code.DISCONNECT_ACK, []), (Code.DISCONNECT_NAK, [("Error-Cause", 503)])])
def test_pyrad_disconnect_request_verifies_and_our_answer_satisfies_pyrad(
    dictionary: Dictionary, code: int, extra: list[tuple[str, int]], signed: bool
) -> None:
    sent = pyrad.CoAPacket(pyrad.DisconnectRequest, id=3, secret=SECRET, dict=dictionary)
    sent["Acct-Session-Id"] = "7f000001-0000002a"
    sent["User-Name"] = "001010000012345"
    if signed:
        sent.add_message_authenticator()

    received = radius.decode(sent.RequestPacket())
    answer = radius.build_response(received, code, extra, SECRET, message_authenticator=signed)

    assert radius.verify_request(received, SECRET)
    assert (received.message_authenticator_at >= 0) == signed
    reply = sent.CreateReply(packet=answer)
    assert reply.code == code
    assert bool(reply.message_authenticator) == signed  # then VerifyReply checks our Message-Authenticator too
    assert sent.VerifyReply(reply, answer)
    if extra:
        assert reply["Error-Cause"] == ["Session-Context-Not-Found"]


# --- we send, pyrad reads


def test_our_access_accept_satisfies_pyrad_verify_reply(dictionary: Dictionary) -> None:
    sent = pyrad_access_request(dictionary)
    received = radius.decode(sent.RequestPacket())

    accept = radius.build_response(received, Code.ACCESS_ACCEPT, [("Framed-IP-Address", "10.64.0.7")], SECRET)
    reply = sent.CreateReply(packet=accept)

    assert sent.VerifyReply(reply, accept, enforce_ma=True)
    assert reply.code == pyrad.AccessAccept
    assert reply["Framed-IP-Address"] == ["10.64.0.7"]


def test_our_access_reject_with_reply_message_satisfies_pyrad(dictionary: Dictionary) -> None:
    sent = pyrad_access_request(dictionary)
    received = radius.decode(sent.RequestPacket())

    reject = radius.build_response(received, Code.ACCESS_REJECT, [("Reply-Message", "SIM is inactive")], SECRET)
    reply = sent.CreateReply(packet=reject)

    assert sent.VerifyReply(reply, reject, enforce_ma=True)
    assert reply.code == pyrad.AccessReject
    assert reply["Reply-Message"] == ["SIM is inactive"]


def test_a_reply_signed_with_another_secret_fails_pyrad_verification(dictionary: Dictionary) -> None:
    sent = pyrad_access_request(dictionary)
    received = radius.decode(sent.RequestPacket())

    accept = radius.build_response(received, Code.ACCESS_ACCEPT, [], b"another-secret")

    assert not sent.VerifyReply(sent.CreateReply(packet=accept), accept)


def test_proxy_state_echo_satisfies_pyrad(dictionary: Dictionary) -> None:
    sent = pyrad_access_request(dictionary)
    sent.AddAttribute("Proxy-State", b"hop-1")
    sent.AddAttribute("Proxy-State", b"hop-2")
    received = radius.decode(sent.RequestPacket())

    accept = radius.build_response(received, Code.ACCESS_ACCEPT, [], SECRET)

    assert received.proxy_state == (b"hop-1", b"hop-2")
    assert sent.VerifyReply(sent.CreateReply(packet=accept), accept, enforce_ma=True)


def test_our_accounting_response_satisfies_pyrad(dictionary: Dictionary) -> None:
    sent = pyrad.AcctPacket(id=9, secret=SECRET, dict=dictionary)
    sent["Acct-Status-Type"] = radius.AcctStatusType.STOP
    sent["Acct-Session-Id"] = "s"
    received = radius.decode(sent.RequestPacket())

    plain = radius.build_response(received, Code.ACCOUNTING_RESPONSE, [], SECRET)
    signed = radius.build_response(received, Code.ACCOUNTING_RESPONSE, [], SECRET, message_authenticator=True)

    assert sent.VerifyReply(sent.CreateReply(packet=plain), plain)
    assert sent.VerifyReply(sent.CreateReply(packet=signed), signed)
    assert len(signed) == len(plain) + 18


def test_our_access_request_is_read_by_pyrad(dictionary: Dictionary) -> None:
    raw = radius.build_request(Code.ACCESS_REQUEST, 77, [*PGW_ATTRIBUTES.items(), ("User-Password", "pw")], SECRET)

    seen = pyrad.AuthPacket(packet=raw, secret=SECRET, dict=dictionary)

    assert seen.verify_message_authenticator()
    assert seen.PwDecrypt(seen["User-Password"][0]) == "pw"
    for name, value in PGW_ATTRIBUTES.items():
        assert seen[name] == [named(dictionary, name, value)], name


def test_our_accounting_request_verifies_in_pyrad(dictionary: Dictionary) -> None:
    attributes = [("Acct-Status-Type", radius.AcctStatusType.INTERIM_UPDATE), *USAGE.items()]
    raw = radius.build_request(Code.ACCOUNTING_REQUEST, 5, attributes, SECRET, message_authenticator=True)

    seen = pyrad.AcctPacket(packet=raw, secret=SECRET, dict=dictionary)

    assert seen.VerifyAcctRequest()
    assert seen.verify_message_authenticator()
    assert seen["Acct-Input-Gigawords"] == [2]


@pytest.mark.parametrize(("code", "answer"), [(pyrad.DisconnectACK, []), (pyrad.DisconnectNAK, [503])])
def test_our_disconnect_request_verifies_in_pyrad_and_its_answer_in_ours(
    dictionary: Dictionary, code: int, answer: list[int]
) -> None:
    raw = radius.build_request(
        Code.DISCONNECT_REQUEST, 12, [("Acct-Session-Id", "s-9"), ("Framed-IP-Address", "10.64.0.7")], SECRET
    )
    seen = pyrad.CoAPacket(packet=raw, secret=SECRET, dict=dictionary)
    assert seen.VerifyCoARequest()

    reply = seen.CreateReply()
    reply.code = code
    if answer:
        reply["Error-Cause"] = answer[0]
    back = radius.decode(reply.ReplyPacket())

    assert back.code == code
    assert radius.verify_response(back, raw[4:20], SECRET)
    assert back.values("Error-Cause") == answer
