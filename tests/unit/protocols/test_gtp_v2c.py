"""GTPv2-C codec: TS 29.274 header and IE vectors, round trips, and scapy as an independent decoder/encoder."""

from __future__ import annotations

import logging

import pytest
from scapy.config import conf
from scapy.contrib import gtp_v2 as sg

from cellplane.protocols.gtp import (
    Cause,
    CreateSessionRequest,
    CreateSessionResponse,
    DeleteBearerRequest,
    DeleteBearerResponse,
    DeleteSessionRequest,
    DeleteSessionResponse,
    EchoRequest,
    EchoResponse,
    Fteid,
    GtpcMessage,
    GtpError,
    InterfaceType,
    PdnType,
    Plmn,
    RatType,
    UserLocation,
    decode,
    is_acceptance,
)

conf.verb = 0
logging.getLogger("scapy").setLevel(logging.ERROR)  # scapy logs route guesses; noise here, never a failure

SGW_C = Fteid(InterfaceType.S5S8_SGW_GTPC, 0x11223344, "127.0.0.1")
SGW_U = Fteid(InterfaceType.S5S8_SGW_GTPU, 0x55667788, "127.0.0.1")
PGW_C = Fteid(InterfaceType.S5S8_PGW_GTPC, 0x0A0B0C0D, "127.0.0.1")
PGW_U = Fteid(InterfaceType.S5S8_PGW_GTPU, 0x01020304, "127.0.0.1")
ATT = Plmn("310", "410")


def full_request(**changes: object) -> CreateSessionRequest:
    fields: dict[str, object] = {
        "seq": 0x0A0B0C,
        "imsi": "310410123456789",
        "apn": "iot.cellplane",
        "msisdn": "15551234567",
        "mei": "3534900698733190",
        "serving_network": ATT,
        "uli": UserLocation(ATT, 0x1234, 0xABCDEF1),
        "rat_type": RatType.LTE_M,
        "sender_fteid": SGW_C,
        "bearer_fteid": SGW_U,
        "recovery": 7,
    }
    fields.update(changes)
    return CreateSessionRequest(**fields)  # type: ignore[arg-type]


def accepted_response() -> CreateSessionResponse:
    return CreateSessionResponse(
        seq=0x0A0B0C,
        teid=SGW_C.teid,
        cause=Cause.REQUEST_ACCEPTED,
        pgw_fteid=PGW_C,
        bearer_fteid=PGW_U,
        paa_ipv4="10.64.0.7",
    )


def scapy_ies(ies: list[sg.Packet]) -> dict[tuple[int, int], sg.Packet]:
    return {(ie.ietype, ie.instance): ie for ie in ies}


def scapy_plmn(mcc_field: bytes, mnc_field: bytes) -> Plmn:
    """scapy reads Serving Network as 2 octets (MCC + the MNC's third digit) then 1 octet (MNC digits 1-2)."""
    mcc = mcc_field.decode()
    return Plmn(mcc[:3], mnc_field.decode() + mcc[3:])


# --- TS 29.274 vectors: header (§5.1) and IE encodings (§8) -------------------------------------------------


def test_echo_request_is_the_short_header_with_one_recovery_ie() -> None:
    """GIVEN an Echo Request, WHEN encoded, THEN octet 1 is 0x40 (version 2, T=0: no TEID, §5.4) and the
    Message Length counts the sequence number, spare octet and the 5-octet Recovery IE (§5.5)."""
    data = EchoRequest(seq=0x000102, recovery=9).encode()
    assert data == bytes.fromhex("40 01 0009 000102 0003 0001 00 09")


def test_session_messages_carry_the_teid_header() -> None:
    """GIVEN a session message, THEN octet 1 is 0x48 (version 2, T=1) and the TEID precedes the sequence."""
    data = DeleteSessionResponse(seq=5, teid=0xDEADBEEF, cause=Cause.REQUEST_ACCEPTED).encode()
    assert data == bytes.fromhex("48 25 000e deadbeef 000005 0002 0002 00 10 00")


@pytest.mark.parametrize(
    ("plmn", "octets"),
    [
        (Plmn("310", "410"), "130014"),  # 3-digit MNC: MNC digit 3 in the high nibble of octet 2
        (Plmn("001", "01"), "00f110"),  # 2-digit MNC: filler 0xF in its place (TS 24.008 Figure 10.5.13)
        (Plmn("262", "01"), "62f210"),
    ],
)
def test_serving_network_plmn_nibbles(plmn: Plmn, octets: str) -> None:
    data = CreateSessionRequest(
        seq=1, imsi="001010000000001", apn="a", sender_fteid=SGW_C, bearer_fteid=SGW_U, serving_network=plmn
    ).encode()
    assert bytes.fromhex("53 0003 00" + octets) in data
    assert decode(data).serving_network == plmn  # type: ignore[union-attr]


def test_imsi_is_tbcd_with_filler() -> None:
    """TS 29.274 §8.3: digits in TBCD, low nibble first, an odd count padded with 0xF."""
    data = full_request(imsi="001010123456789").encode()
    assert bytes.fromhex("01 0008 00 00 01 01 21 43 65 87 f9") in data


def test_fteid_and_apn_layouts() -> None:
    data = full_request().encode()
    # F-TEID §8.22: V4=1, V6=0, interface 6 -> 0x86; TEID; IPv4. Instance 0 (Sender F-TEID).
    assert bytes.fromhex("57 0009 00 86 11223344 7f000001") in data
    # Inside the Bearer Context, the S5/S8-U SGW F-TEID is instance 2 (Table 7.2.1-2).
    assert bytes.fromhex("57 0009 02 84 55667788 7f000001") in data
    # APN §8.6: length-prefixed labels (TS 23.003 §9.1), no trailing root label.
    assert bytes.fromhex("47 000e 00 03") + b"iot" + b"\x09cellplane" in data


# --- round trips ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "message",
    [
        EchoRequest(seq=1, recovery=3),
        EchoResponse(seq=0xFFFFFF, recovery=255),
        full_request(),
        CreateSessionRequest(seq=2, imsi="001010000000001", apn="internet", sender_fteid=SGW_C, bearer_fteid=SGW_U),
        full_request(sender_fteid=Fteid(InterfaceType.S5S8_SGW_GTPC, 1, "127.0.0.1", "2001:db8::1"), paa_ipv4=None),
        accepted_response(),
        CreateSessionResponse(seq=9, teid=1, cause=Cause.USER_AUTHENTICATION_FAILED),
        CreateSessionResponse(seq=9, teid=1, cause=Cause.APN_ACCESS_DENIED_NO_SUBSCRIPTION, recovery=2),
        DeleteSessionRequest(seq=3, teid=PGW_C.teid),
        DeleteSessionRequest(seq=3, teid=PGW_C.teid, ebi=None, cause=Cause.LOCAL_DETACH, uli=UserLocation(ATT, 1, 2)),
        DeleteSessionResponse(seq=3, teid=SGW_C.teid, cause=Cause.CONTEXT_NOT_FOUND),
        DeleteBearerRequest(seq=4, teid=SGW_C.teid, cause=Cause.REACTIVATION_REQUESTED),
        DeleteBearerRequest(seq=4, teid=SGW_C.teid, lbi=None, ebis=(6, 7)),
        DeleteBearerResponse(seq=4, teid=PGW_C.teid, cause=Cause.REQUEST_ACCEPTED, recovery=1),
    ],
    ids=lambda message: type(message).__name__,
)
def test_round_trip(message: GtpcMessage) -> None:
    assert decode(message.encode()) == message


def test_accepted_response_defaults_the_bearer_cause() -> None:
    decoded = decode(accepted_response().encode())
    assert isinstance(decoded, CreateSessionResponse)
    assert decoded.accepted and decoded.bearer_cause == Cause.REQUEST_ACCEPTED


def test_cause_values_are_those_of_ts_29_274_table_8_4_1() -> None:
    assert (Cause.REQUEST_ACCEPTED, Cause.CONTEXT_NOT_FOUND, Cause.MANDATORY_IE_MISSING) == (16, 64, 70)
    assert (Cause.USER_AUTHENTICATION_FAILED, Cause.APN_ACCESS_DENIED_NO_SUBSCRIPTION) == (92, 93)
    assert is_acceptance(16) and is_acceptance(63) and not is_acceptance(64) and not is_acceptance(8)


# --- our bytes, decoded by scapy -------------------------------------------------------------------------------


def test_scapy_reads_our_create_session_request() -> None:
    request = full_request()
    packet = sg.GTPHeader(request.encode())
    assert (packet.version, packet.T, packet.P, packet.gtp_type) == (2, 1, 0, 32)
    assert (packet.teid, packet.seq, packet.length) == (0, request.seq, len(request.encode()) - 4)
    ies = scapy_ies(packet[sg.GTPV2CreateSessionRequest].IE_list)
    assert request.imsi.encode() == ies[(1, 0)].IMSI
    assert ies[(76, 0)].digits == b"15551234567"
    assert ies[(75, 0)].MEI == b"3534900698733190"
    assert scapy_plmn(ies[(83, 0)].MCC, ies[(83, 0)].MNC) == ATT
    assert ies[(82, 0)].RAT_type == RatType.LTE_M
    sender = ies[(87, 0)]
    assert (sender.ipv4_present, sender.InterfaceType, sender.GRE_Key, sender.ipv4) == (1, 6, SGW_C.teid, "127.0.0.1")
    assert ies[(71, 0)].APN == b"iot.cellplane"
    assert ies[(99, 0)].PDN_type == 1
    assert (ies[(79, 0)].PDN_type, ies[(79, 0)].ipv4) == (1, "0.0.0.0")
    uli = ies[(86, 0)]
    assert (uli.TAI_Present, uli.ECGI_Present, uli.TAI.TAC, uli.ECGI.ECI) == (1, 1, 0x1234, 0xABCDEF1)
    assert ies[(3, 0)].restart_counter == 7
    bearer = scapy_ies(ies[(93, 0)].IE_list)
    assert bearer[(73, 0)].EBI == 5
    assert (bearer[(80, 0)].QCI, bearer[(80, 0)].PriorityLevel) == (9, 15)
    assert (bearer[(87, 2)].InterfaceType, bearer[(87, 2)].GRE_Key) == (4, SGW_U.teid)


def test_scapy_reads_our_create_session_response() -> None:
    response = accepted_response()
    packet = sg.GTPHeader(response.encode())
    assert (packet.gtp_type, packet.teid, packet.seq) == (33, SGW_C.teid, response.seq)
    ies = scapy_ies(packet[sg.GTPV2CreateSessionResponse].IE_list)
    assert ies[(2, 0)].Cause == 16
    assert (ies[(87, 1)].InterfaceType, ies[(87, 1)].GRE_Key, ies[(87, 1)].ipv4) == (7, PGW_C.teid, "127.0.0.1")
    assert ies[(79, 0)].ipv4 == "10.64.0.7"
    bearer = scapy_ies(ies[(93, 0)].IE_list)
    assert (bearer[(73, 0)].EBI, bearer[(2, 0)].Cause) == (5, 16)
    assert (bearer[(87, 2)].InterfaceType, bearer[(87, 2)].GRE_Key) == (5, PGW_U.teid)


def test_scapy_reads_our_rejection_and_teardown_messages() -> None:
    rejection = sg.GTPHeader(CreateSessionResponse(seq=1, teid=2, cause=Cause.USER_AUTHENTICATION_FAILED).encode())
    assert [(ie.ietype, ie.Cause) for ie in rejection.IE_list] == [(2, 92)]
    delete = sg.GTPHeader(DeleteSessionRequest(seq=2, teid=3, cause=Cause.LOCAL_DETACH).encode())
    assert delete.gtp_type == 36 and {(ie.ietype, ie.instance) for ie in delete.IE_list} == {(2, 0), (73, 0)}
    bearer = sg.GTPHeader(DeleteBearerRequest(seq=3, teid=4, cause=Cause.REACTIVATION_REQUESTED).encode())
    ies = scapy_ies(bearer[sg.GTPV2DeleteBearerRequest].IE_list)
    assert bearer.teid == 4 and ies[(73, 0)].EBI == 5 and ies[(2, 0)].Cause == 8
    echo = sg.GTPHeader(EchoResponse(seq=77, recovery=4).encode())
    assert (echo.T, echo.gtp_type, echo.seq, echo.IE_list[0].restart_counter) == (0, 2, 77, 4)


# --- scapy's bytes, decoded by us ------------------------------------------------------------------------------


def scapy_fteid(fteid: Fteid, instance: int = 0) -> sg.IE_FTEID:
    return sg.IE_FTEID(
        instance=instance, ipv4_present=1, InterfaceType=fteid.interface, GRE_Key=fteid.teid, ipv4=fteid.ipv4
    )


def test_we_read_a_scapy_create_session_request() -> None:
    packet = sg.GTPHeader(P=0, T=1, teid=0, seq=4242, gtp_type=32) / sg.GTPV2CreateSessionRequest(
        IE_list=[
            sg.IE_IMSI(IMSI="208930000000001"),
            sg.IE_MSISDN(digits="33612345678"),
            sg.IE_MEI(MEI="3534900698733190"),
            sg.IE_RAT(RAT_type=8),
            scapy_fteid(SGW_C),
            sg.IE_APN(APN="m2m.example"),
            sg.IE_PDN_type(PDN_type=1),
            sg.IE_PAA(PDN_type=1, ipv4="0.0.0.0"),
            sg.IE_BearerContext(
                IE_list=[sg.IE_EPSBearerID(EBI=5), sg.IE_Bearer_QoS(QCI=9, PriorityLevel=8), scapy_fteid(SGW_U, 2)]
            ),
        ]
    )
    message = decode(bytes(packet))
    assert message == CreateSessionRequest(
        seq=4242,
        imsi="208930000000001",
        msisdn="33612345678",
        mei="3534900698733190",
        rat_type=RatType.EUTRAN_NB_IOT,
        apn="m2m.example",
        sender_fteid=SGW_C,
        bearer_fteid=SGW_U,
        arp_priority=8,
    )


def test_we_read_scapy_responses_and_teardowns() -> None:
    response = sg.GTPHeader(P=0, teid=SGW_C.teid, seq=5, gtp_type=33) / sg.GTPV2CreateSessionResponse(
        IE_list=[
            sg.IE_Cause(Cause=16),
            scapy_fteid(PGW_C, 1),
            sg.IE_PAA(PDN_type=1, ipv4="10.64.0.9"),
            sg.IE_BearerContext(IE_list=[sg.IE_EPSBearerID(EBI=5), sg.IE_Cause(Cause=16), scapy_fteid(PGW_U, 2)]),
        ]
    )
    assert decode(bytes(response)) == CreateSessionResponse(
        seq=5, teid=SGW_C.teid, cause=16, pgw_fteid=PGW_C, bearer_fteid=PGW_U, paa_ipv4="10.64.0.9", bearer_cause=16
    )
    delete = sg.GTPHeader(P=0, teid=9, seq=6, gtp_type=36) / sg.GTPV2DeleteSessionRequest(
        IE_list=[sg.IE_EPSBearerID(EBI=5)]
    )
    assert decode(bytes(delete)) == DeleteSessionRequest(seq=6, teid=9, ebi=5)
    answer = sg.GTPHeader(P=0, teid=9, seq=6, gtp_type=37) / sg.GTPV2DeleteSessionResponse(
        IE_list=[sg.IE_Cause(Cause=64)]
    )
    assert decode(bytes(answer)) == DeleteSessionResponse(seq=6, teid=9, cause=Cause.CONTEXT_NOT_FOUND)
    bearer = sg.GTPHeader(P=0, teid=8, seq=7, gtp_type=100) / sg.GTPV2DeleteBearerResponse(
        IE_list=[sg.IE_Cause(Cause=16), sg.IE_EPSBearerID(EBI=5)]
    )
    assert decode(bytes(bearer)) == DeleteBearerResponse(seq=7, teid=8, cause=16, lbi=5)
    echo = sg.GTPHeader(T=0, P=0, seq=8, gtp_type=1) / sg.GTPV2EchoRequest(
        IE_list=[sg.IE_RecoveryRestart(restart_counter=3)]
    )
    assert decode(bytes(echo)) == EchoRequest(seq=8, recovery=3)


# --- what decode refuses, and what it tells the responder -------------------------------------------------------


def without_ie(data: bytes, ie: bytes) -> bytes:
    """`data` with the IE `ie` cut out and the Message Length fixed."""
    assert ie in data
    body = data.replace(ie, b"", 1)
    return body[:2] + (len(body) - 4).to_bytes(2, "big") + body[4:]


def test_missing_mandatory_ie_names_the_transaction_and_cause() -> None:
    request = full_request()
    data = without_ie(request.encode(), bytes.fromhex("47 000e 00 03") + b"iot\x09cellplane")
    with pytest.raises(GtpError) as caught:
        decode(data)
    error = caught.value
    assert (error.cause, error.msg_type, error.seq, error.teid) == (Cause.MANDATORY_IE_MISSING, 32, request.seq, 0)
    assert "APN" in error.message


def test_missing_sgw_user_plane_fteid_is_a_conditional_ie_missing() -> None:
    """Without the S5/S8-U SGW F-TEID the PGW has nowhere to tunnel downlink packets (Table 7.2.1-2, C)."""
    packet = sg.GTPHeader(P=0, teid=0, seq=11, gtp_type=32) / sg.GTPV2CreateSessionRequest(
        IE_list=[
            sg.IE_IMSI(IMSI="001010000000001"),
            sg.IE_RAT(RAT_type=6),
            scapy_fteid(SGW_C),
            sg.IE_APN(APN="iot"),
            sg.IE_BearerContext(IE_list=[sg.IE_EPSBearerID(EBI=5), sg.IE_Bearer_QoS(QCI=9, PriorityLevel=15)]),
        ]
    )
    with pytest.raises(GtpError) as caught:
        decode(bytes(packet))
    assert (caught.value.cause, caught.value.seq) == (Cause.CONDITIONAL_IE_MISSING, 11)


def test_ie_overrunning_its_container_is_invalid_length() -> None:
    data = without_ie(full_request().encode(), bytes.fromhex("57 0009 02 84 55667788 7f000001"))
    # The Bearer Context's own length now overstates its content by the 13 octets cut out.
    with pytest.raises(GtpError) as caught:
        decode(data)
    assert caught.value.cause == Cause.INVALID_LENGTH


def test_incorrect_mandatory_ie_is_mandatory_ie_incorrect() -> None:
    # A filler nibble in the middle of the IMSI: TBCD allows it only in the last octet.
    data = full_request().encode().replace(bytes.fromhex("01 0008 00 13 40"), bytes.fromhex("01 0008 00 13 f0"))
    with pytest.raises(GtpError) as caught:
        decode(data)
    assert caught.value.cause == Cause.MANDATORY_IE_INCORRECT


def test_incorrect_optional_ie_is_dropped() -> None:
    """TS 29.274 §7.7.7: an incorrect optional IE is discarded and the message processed without it."""
    data = full_request().encode().replace(bytes.fromhex("4c 0006 00 51 55"), bytes.fromhex("4c 0006 00 5f 55"))
    message = decode(data)
    assert isinstance(message, CreateSessionRequest) and message.msisdn is None and message.imsi == "310410123456789"


@pytest.mark.parametrize(
    ("data", "cause"),
    [
        (b"", Cause.INVALID_LENGTH),
        (bytes.fromhex("40 01 0009 000102 00 03 0001 00"), Cause.INVALID_LENGTH),  # length runs past the end
        (bytes.fromhex("40 01 0004 000102 00 ff"), Cause.INVALID_LENGTH),  # trailing octet, P=0
        (bytes.fromhex("20 01 0004 000102 00"), Cause.VERSION_NOT_SUPPORTED_BY_NEXT_PEER),  # GTPv1
        (bytes.fromhex("40 40 0004 000102 00"), Cause.SERVICE_NOT_SUPPORTED),  # unknown type
        (bytes.fromhex("48 01 0008 00000000 000102 00"), Cause.INVALID_MESSAGE_FORMAT),  # Echo with T=1
        (bytes.fromhex("40 01 0004 000102 00"), Cause.MANDATORY_IE_MISSING),  # Echo without Recovery
    ],
)
def test_malformed_messages(data: bytes, cause: int) -> None:
    with pytest.raises(GtpError) as caught:
        decode(data)
    assert caught.value.cause == cause


def test_piggybacked_message_is_left_alone() -> None:
    """With P=1 a second message may follow (TS 29.274 §5.5); the first is decoded on its own."""
    first = bytearray(EchoRequest(seq=1).encode())
    first[0] |= 0x10
    assert decode(bytes(first) + EchoRequest(seq=2).encode()) == EchoRequest(seq=1)


@pytest.mark.parametrize(
    "build",
    [
        lambda: full_request(imsi="12345").encode(),
        lambda: full_request(imsi="31041012345678x").encode(),
        lambda: full_request(apn="bad..apn").encode(),
        lambda: full_request(apn="x" * 101).encode(),
        lambda: full_request(ebi=4).encode(),
        lambda: full_request(seq=1 << 24).encode(),
        lambda: full_request(teid=-1).encode(),
        lambda: full_request(serving_network=Plmn("31", "410")).encode(),
        lambda: full_request(sender_fteid=Fteid(6, 1)).encode(),
        lambda: full_request(sender_fteid=Fteid(6, 1 << 32, "127.0.0.1")).encode(),
        lambda: full_request(paa_ipv4="10.0.0").encode(),
        lambda: CreateSessionResponse(seq=1, teid=1, cause=Cause.REQUEST_ACCEPTED).encode(),
        lambda: DeleteBearerRequest(seq=1, teid=1, lbi=None).encode(),
    ],
)
def test_unencodable_values_raise_gtp_error(build: object) -> None:
    with pytest.raises(GtpError):
        build()  # type: ignore[operator]


def test_decoded_enums_keep_unknown_codes() -> None:
    message = decode(full_request(rat_type=42, pdn_type=PdnType.IPV4V6).encode())
    assert isinstance(message, CreateSessionRequest)
    assert message.rat_type == 42 and message.pdn_type is PdnType.IPV4V6
