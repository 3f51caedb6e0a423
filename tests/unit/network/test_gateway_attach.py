"""Gateway control plane: Create/Delete Session over real UDP, authorized by a pyrad RADIUS server (docs/NETWORK.md)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from cellplane.protocols.gtp import (
    Cause,
    CreateSessionRequest,
    CreateSessionResponse,
    DeleteSessionRequest,
    DeleteSessionResponse,
    EchoRequest,
    EchoResponse,
    Fteid,
    InterfaceType,
    Plmn,
    decode,
)
from cellplane.protocols.gtp import private as gtp_private
from cellplane.protocols.gtp.header import frame
from tests.unit.network.gateway_support import Stack, Verdict, first, peer, running_stack

ICCID = "8988307000000000011"
IMSI = "310410000000011"
IMEI = "353490069873319"


@pytest.fixture
async def stack() -> AsyncIterator[Stack]:
    async with running_stack() as running:
        yield running


def raw_request(port: int, seq: int, imsi: str = IMSI) -> CreateSessionRequest:
    return CreateSessionRequest(
        seq=seq,
        imsi=imsi,
        apn="super",
        sender_fteid=Fteid(InterfaceType.S5S8_SGW_GTPC, 0x1111, "127.0.0.1"),
        bearer_fteid=Fteid(InterfaceType.S5S8_SGW_GTPU, 0x2222, "127.0.0.1"),
        serving_network=Plmn("310", "410"),
        private_extension=gtp_private.gtpu_port_extension(port),
    )


async def test_access_request_carries_every_attribute_of_the_contract(stack: Stack) -> None:
    """GIVEN a device with IMEI and MSISDN, WHEN it attaches, THEN the AAA gets one Access-Request with the
    attributes of docs/NETWORK.md, signed with a Message-Authenticator that pyrad verifies."""
    device = await stack.emulator.power_on(
        ICCID, mcc="310", mnc="410", rat="NB-IoT", imsi=IMSI, imei=IMEI, msisdn="15550000011"
    )
    assert device.state == "attached"
    assert len(stack.aaa.access) == 1 and stack.aaa.bad == 0
    request = stack.aaa.access[0]
    assert first(request, "User-Name") == IMSI
    assert request.PwDecrypt(first(request, "User-Password")) == IMSI
    assert first(request, "3GPP-IMSI") == IMSI
    assert first(request, "3GPP-IMEISV") == IMEI
    assert first(request, "3GPP-SGSN-MCC-MNC") == "310410"
    assert first(request, "3GPP-RAT-Type") == "EUTRAN-NB-IoT"  # value 8, by its dictionary name
    assert first(request, "Called-Station-Id") == "super"
    assert first(request, "Calling-Station-Id") == "15550000011"
    assert first(request, "NAS-IP-Address") == "127.0.0.1"
    assert first(request, "NAS-Identifier") == "cellplane-gateway"
    assert first(request, "Framed-Protocol") == "GPRS-PDP-Context"
    # TS 29.061 §16.4.7.2: type 130 (TAI and ECGI), then TAI = PLMN 310-410 ("13 00 14") + TAC, ECGI = PLMN + ECI.
    location = first(request, "3GPP-User-Location-Info")
    tac = location[4:6]
    assert location[:4] == bytes.fromhex("82130014") and location[6:9] == bytes.fromhex("130014")
    assert int.from_bytes(tac, "big") == stack.emulator.networks.get("310", "410").tac
    assert int.from_bytes(location[9:13], "big") == device.cell_id


async def test_accept_gives_the_framed_ip_and_starts_accounting(stack: Stack) -> None:
    stack.aaa.verdicts[IMSI] = Verdict(address="10.64.9.9", klass=b"opaque-class")
    device = await stack.emulator.power_on(ICCID, mcc="310", mnc="410", imsi=IMSI)
    assert device.session is not None and device.session["ip_address"] == "10.64.9.9"
    session = stack.gateway.session(IMSI)
    assert session is not None and session.ue_ip == "10.64.9.9"
    assert stack.gateway.session("10.64.9.9") is session
    [start] = await stack.aaa.wait_accounting("Start")
    assert first(start, "Acct-Session-Id") == session.acct_session_id
    assert first(start, "Framed-IP-Address") == "10.64.9.9"
    assert first(start, "User-Name") == IMSI and first(start, "3GPP-SGSN-MCC-MNC") == "310410"
    assert first(start, "Class") == b"opaque-class"  # RFC 2865 §5.25: echoed as received
    assert "Acct-Input-Octets" not in start  # a Start reports no usage


async def test_reject_answers_user_authentication_failed_with_the_reason(stack: Stack) -> None:
    """GIVEN an Access-Reject "83705 SIM is inactive", THEN the Create Session Response has cause 92 and our
    Private Extension with that text, and the device shows rejected with reason and code."""
    stack.aaa.verdicts[IMSI] = Verdict(reject="83705 SIM is inactive")
    device = await stack.emulator.power_on(ICCID, mcc="310", mnc="410", imsi=IMSI)
    assert (device.state, device.code, device.reason) == ("rejected", 83705, "SIM is inactive")
    assert device.gtp_cause == Cause.USER_AUTHENTICATION_FAILED
    [response] = [decode(data) for data in stack.capture.of("pgw-c")]
    assert isinstance(response, CreateSessionResponse) and not response.accepted
    assert response.private_extension is not None
    assert response.private_extension.enterprise_id == gtp_private.ENTERPRISE_ID
    assert gtp_private.reason_of(response.private_extension) == "83705 SIM is inactive"
    assert stack.gateway.session(IMSI) is None and len(stack.gateway.sessions) == 0
    assert stack.aaa.accounting == []


async def test_silent_aaa_is_remote_peer_not_responding_after_retransmissions(stack: Stack) -> None:
    stack.aaa.verdicts[IMSI] = Verdict(silent=True)
    device = await stack.emulator.power_on(ICCID, mcc="310", mnc="410", imsi=IMSI)
    assert (device.state, device.gtp_cause, device.code) == ("rejected", Cause.REMOTE_PEER_NOT_RESPONDING, None)
    assert device.reason == "AAA server did not answer"
    # RFC 5080 §2.2.1: a retransmission is the same packet, same Identifier and Request Authenticator.
    assert len(stack.aaa.raw_access) == 2 and stack.aaa.raw_access[0] == stack.aaa.raw_access[1]
    assert stack.gateway.radius.stats.timeouts == 1


async def test_retransmitted_create_session_is_authorized_once(stack: Stack) -> None:
    """TS 29.274 §7.6: a retransmitted request gets the response already sent, not a second session."""
    async with peer() as sgw:
        request = raw_request(sgw.port, seq=77).encode()
        sgw.send(request, stack.gateway.gtpc_address)
        sgw.send(request, stack.gateway.gtpc_address)  # while the first is at the AAA
        first_answer = await sgw.next()
        assert await sgw.next(0.3) is None  # the copy in flight got nothing
        sgw.send(request, stack.gateway.gtpc_address)  # after the answer: the same answer again
        second_answer = await sgw.next()
    assert first_answer is not None and first_answer == second_answer
    response = decode(first_answer)
    assert isinstance(response, CreateSessionResponse) and response.accepted and response.teid == 0x1111
    assert len(stack.aaa.access) == 1 and len(stack.gateway.sessions) == 1


async def test_delete_session_ends_it_with_final_usage(stack: Stack) -> None:
    await stack.emulator.power_on(ICCID, mcc="310", mnc="410", imsi=IMSI)
    session = stack.gateway.session(IMSI)
    assert session is not None
    await stack.emulator.traffic(ICCID, up=3000, down=4500)
    device = await stack.emulator.set_state(ICCID, "detached")
    assert device.state == "detached" and device.session is None
    [stop] = await stack.aaa.wait_accounting("Stop")
    assert first(stop, "Acct-Session-Id") == session.acct_session_id
    assert (first(stop, "Acct-Input-Octets"), first(stop, "Acct-Output-Octets")) == (3000, 4500)
    assert (first(stop, "Acct-Input-Packets"), first(stop, "Acct-Output-Packets")) == (3, 4)
    assert first(stop, "Acct-Terminate-Cause") == "User-Request"
    assert stack.gateway.session(IMSI) is None


async def test_a_new_attach_of_the_same_imsi_replaces_the_old_session(stack: Stack) -> None:
    async with peer() as sgw:
        for seq in (1, 2):
            sgw.send(raw_request(sgw.port, seq=seq).encode(), stack.gateway.gtpc_address)
            assert await sgw.next() is not None
    assert len(stack.gateway.sessions) == 1
    [stop] = await stack.aaa.wait_accounting("Stop")
    assert first(stop, "Acct-Terminate-Cause") == "NAS-Request"
    assert len(stack.aaa.records("Start")) == 2


async def test_session_timeout_ends_the_session_from_the_network() -> None:
    async with running_stack() as stack:
        stack.aaa.verdicts[IMSI] = Verdict(session_timeout=1)
        await stack.emulator.power_on(ICCID, mcc="310", mnc="410", imsi=IMSI)
        device = await stack.emulator.wait_for(ICCID, "detached", timeout=3)
        assert device.reason == "disconnected by the network"
        [stop] = await stack.aaa.wait_accounting("Stop")
        assert first(stop, "Acct-Terminate-Cause") == "Session-Timeout"


async def test_unknown_delete_session_is_context_not_found(stack: Stack) -> None:
    async with peer() as sgw:
        sgw.send(DeleteSessionRequest(seq=5, teid=0xABCDEF).encode(), stack.gateway.gtpc_address)
        answer = await sgw.next()
    assert answer is not None
    assert decode(answer) == DeleteSessionResponse(seq=5, teid=0, cause=Cause.CONTEXT_NOT_FOUND)


async def test_a_request_missing_a_mandatory_ie_is_answered_with_its_cause(stack: Stack) -> None:
    """TS 29.274 §7.7.6: a Create Session without an APN -> Mandatory IE missing, same sequence number."""
    body = bytes.fromhex("01 0008 00 13 00 14 00 00 00 00 f1")  # IMSI only
    async with peer() as sgw:
        sgw.send(frame(32, 0x42, body, teid=0), stack.gateway.gtpc_address)
        answer = await sgw.next()
    assert answer is not None
    response = decode(answer)
    assert isinstance(response, CreateSessionResponse)
    assert (response.seq, response.cause) == (0x42, Cause.MANDATORY_IE_MISSING)
    assert stack.aaa.access == []


async def test_echo_is_answered_with_the_restart_counter(stack: Stack) -> None:
    async with peer() as sgw:
        sgw.send(EchoRequest(seq=9, recovery=3).encode(), stack.gateway.gtpc_address)
        answer = await sgw.next()
    assert answer is not None and decode(answer) == EchoResponse(seq=9, recovery=stack.gateway.recovery)
